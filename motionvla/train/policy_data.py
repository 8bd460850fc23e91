"""Train a :class:`MotionVLAPolicy` on a LeRobotDataset v3: dataset checks, flow targets, processors, loop.

The dataset needs ``observation.images.<cam>`` (one or more), ``observation.state``, ``action`` and a task
string per frame. Action chunks come from lerobot's ``delta_timestamps`` (``action_is_pad`` marks steps
past an episode's end); future-flow targets from :mod:`motionvla.datasets.flow_targets` (computed once,
cached next to the dataset). State/action statistics go into lerobot's processors, saved in every
checkpoint with ``config.json``, so a checkpoint folder is a complete, loadable policy.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from motionvla.keys import ACTION_KEY, IMAGE_KEY_PREFIX, STATE_KEY
from motionvla.datasets.flow_targets import (
    MOTION_KEY,
    MOTION_MASK_KEY,
    MOTION_PAST_KEY,
    FlowTargetConfig,
    FlowTargets,
    WithFlowTargets,
    build_flow_cache,
)
from motionvla.datasets.renaming import RenamedItems, check_rename_map, dataset_key, rename_keys
from motionvla.errors import UserError
from motionvla.flow import codec_scale
from motionvla.policy.configuration_motionvla import MotionVLAConfig
from motionvla.policy.from_dataset import check_dataset_features
from motionvla.policy.modeling_motionvla import MotionVLAPolicy
from motionvla.policy.processor_motionvla import make_motionvla_pre_post_processors, preprocess_training_batch

ITEM_KEYS = ("action", "action_is_pad", STATE_KEY, "task", MOTION_KEY, MOTION_MASK_KEY, MOTION_PAST_KEY)
# Largest dataset (decoded uint8 frames of the policy's cameras) that `preload` reads into memory.
PRELOAD_MAX_BYTES = 8 * 2**30


def open_dataset(root: str | Path | None, repo_id: str, delta_timestamps: dict[str, list[float]] | None = None,
                 episodes: list[int] | None = None) -> Any:
    """A LeRobotDataset (pyav decoding: no system FFmpeg libraries needed), or a clear error.

    ``root``: a local dataset folder; None (or "") = lerobot's own copy of the hub dataset ``repo_id``
    (``$HF_LEROBOT_HOME/<repo_id>``), downloaded on first use. ``episodes``: only these episode indices.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    if root:
        root = Path(root)
        if not (root / "meta" / "info.json").is_file():
            raise UserError(f"{root} is not a LeRobotDataset v3 folder (no meta/info.json)")
        return LeRobotDataset(repo_id, root=root, delta_timestamps=delta_timestamps, episodes=episodes,
                              video_backend="pyav")
    try:
        return LeRobotDataset(repo_id, delta_timestamps=delta_timestamps, episodes=episodes, video_backend="pyav")
    except Exception as e:  # noqa: BLE001 - hub / network / format errors: one line naming the dataset
        reason = str(e).splitlines()[0] if str(e) else ""
        raise UserError(f"could not load the hub dataset {repo_id} ({type(e).__name__}: {reason}); "
                        "pass --dataset_root=DIR for a local one") from e


def configure_from_dataset(config: MotionVLAConfig, meta: Any, source: str,
                           rename_map: dict[str, str] | None = None) -> MotionVLAConfig:
    """Fill the policy config's inputs/outputs from a dataset's features (renamed by ``rename_map``,
    dataset key → policy key), or name what is missing.

    ``config.image_keys`` left at its default (``front``) means all of the dataset's cameras (front
    first); cameras named explicitly must all exist.
    """
    from lerobot.utils.feature_utils import dataset_to_policy_features

    rename_map = rename_map or {}
    check_rename_map(rename_map, list(meta.features), source)
    features = rename_keys(meta.features, rename_map)
    cameras = [k for k in features if k.startswith(IMAGE_KEY_PREFIX)]
    check_dataset_features(features, source, hint="; map the dataset's own names with --rename_map")
    if config.image_keys == [f"{IMAGE_KEY_PREFIX}front"]:
        # The default: every camera of the dataset (as lerobot's policies do), front first. A wrist view
        # is what made the tiny policy grasp: 65.8 % vs 10.8 % with front only (docs/results.md).
        image_keys = sorted(cameras, key=lambda k: k != f"{IMAGE_KEY_PREFIX}front")
    else:
        absent = [k for k in config.image_keys if k not in features]
        if absent:
            raise UserError(f"dataset {source} has no camera(s) {', '.join(absent)}; it has: {', '.join(cameras)}")
        image_keys = list(config.image_keys)
    policy_features = dataset_to_policy_features(features)
    state_dim, action_dim = int(features[STATE_KEY]["shape"][-1]), int(features[ACTION_KEY]["shape"][-1])
    shape = features[image_keys[0]]["shape"]  # (H, W, C) as recorded
    config = dataclasses.replace(config, image_keys=image_keys, state_dim=state_dim, action_dim=action_dim,
                                 image_size=int(shape[0]))
    config.input_features = {k: policy_features[k] for k in [*image_keys, STATE_KEY]}
    config.output_features = {ACTION_KEY: policy_features[ACTION_KEY]}
    return config


def check_checkpoint_fits(config: MotionVLAConfig, dataset_config: MotionVLAConfig, source: str) -> None:
    """Refuse a checkpoint (for fine-tuning) whose state/action sizes differ from the dataset's: names both."""
    for name in ("state_dim", "action_dim"):
        have, want = getattr(config, name), getattr(dataset_config, name)
        if have != want:
            raise UserError(f"checkpoint {source} has {name}={have} but the dataset has {name}={want}")


class InMemoryDataset(Dataset):
    """The items of a dataset read once (with a progress bar) and kept in memory, images as uint8.

    Decoding PNG frames and querying action chunks costs more than a tiny policy's training step on
    CPU; small datasets (the tabletop demos) fit in memory many times over.
    """

    def __init__(self, dataset: Any, image_keys: list[str], desc: str = "loading dataset", workers: int | None = None,
                 progress: bool = True) -> None:
        self.image_keys = list(image_keys)
        self.items: list[dict[str, Any]] = []
        workers = min(4, os.cpu_count() or 1) if workers is None else workers
        # Worker processes decode in parallel; items come back in order (the DataLoader keeps it).
        loader = DataLoader(dataset, batch_size=32, num_workers=workers, collate_fn=self._compact,
                            multiprocessing_context="fork" if workers else None)
        with tqdm(total=len(dataset), desc=desc, unit="frame", mininterval=1.0, disable=not progress) as bar:
            for chunk in loader:
                self.items.extend(chunk)
                bar.update(len(chunk))

    def _compact(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # numpy, not tensors: tensors returned by workers travel as shared-memory file descriptors,
        # and thousands of small ones exhaust the process's descriptor limit.
        out = []
        for item in items:
            kept = {k: item[k].numpy() if isinstance(item[k], torch.Tensor) else item[k] for k in ITEM_KEYS if k in item}
            for k in self.image_keys:
                kept[k] = (item[k].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
            out.append(kept)
        return out

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        item = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in self.items[idx].items()}
        for k in self.image_keys:
            item[k] = item[k].float().div_(255.0)
        return item


def flow_target_config(config: MotionVLAConfig, rename_map: dict[str, str] | None = None) -> FlowTargetConfig:
    """The flow targets the policy's motion head learns, all from its config (K, stride, method, resolution,
    camera): the camera is the dataset's name of the policy's motion camera."""
    return FlowTargetConfig.for_motion_head(config, dataset_key(config.flow_camera(), rename_map or {}))


def resolve_flow_scale(config: MotionVLAConfig, targets: FlowTargets, episodes: list[int] | None = None) -> MotionVLAConfig:
    """``config`` with ``flow_max_magnitude`` measured from the flow cache if it is 0 (else unchanged)."""
    if config.flow_max_magnitude > 0:
        return config
    scale = codec_scale(targets.magnitudes(episodes=episodes), config.flow_scale_percentile, f"the flow cache {targets.cache_dir}",
                        "--policy.flow_max_magnitude")
    return dataclasses.replace(config, flow_max_magnitude=scale)


def preload_bytes(meta: Any, image_keys: list[str], rename_map: dict[str, str] | None = None) -> int:
    """Memory that :class:`InMemoryDataset` needs for ``meta``'s frames: uint8 images of ``image_keys``."""
    per_frame = 0
    for key in image_keys:
        shape = meta.features[dataset_key(key, rename_map or {})]["shape"]
        per_frame += int(np.prod(shape))
    return per_frame * int(meta.total_frames)


def make_training_dataset(root: str | Path | None, repo_id: str, config: MotionVLAConfig, preload: bool = True,
                          progress: bool = True, episodes: list[int] | None = None,
                          rename_map: dict[str, str] | None = None) -> tuple[Dataset, Any, MotionVLAConfig]:
    """The policy's training items: images, state, action chunk (+ ``action_is_pad``), task, and (when
    ``motion_weight > 0``) ``motion``/``motion_mask`` from the flow cache; keys renamed by ``rename_map``.

    ``preload`` reads the items into memory when they fit in :data:`PRELOAD_MAX_BYTES` (a benchmark
    dataset such as LIBERO, 0.4 MB of decoded frames per frame of its two 256² cameras, is read from disk
    instead, with a note).

    Returns ``(dataset, meta, config)``; ``config`` has the motion codec's scale measured from the flows
    when it was 0 (:func:`resolve_flow_scale`).
    """
    rename_map = rename_map or {}
    probe = open_dataset(root, repo_id)
    fps = float(probe.meta.fps)
    delta = {ACTION_KEY: [i / fps for i in range(config.chunk_size)]}
    # Only the chosen episodes are trained on; the flow cache covers the whole dataset (its frames are looked up
    # by global index, so a subset reads the same targets).
    dataset: Any = open_dataset(root, repo_id, delta_timestamps=delta, episodes=episodes)
    if config.motion_weight > 0:
        cache = build_flow_cache(probe, flow_target_config(config, rename_map), progress=progress)
        targets = FlowTargets(cache)
        config = resolve_flow_scale(config, targets, episodes)  # measured on the episodes trained on
        dataset = WithFlowTargets(dataset, targets, past_stride=config.flow_stride if config.motion_past_flows else 0)
    if rename_map:
        dataset = RenamedItems(dataset, rename_map)
    need = preload_bytes(probe.meta, config.image_keys, rename_map)
    if preload and need > PRELOAD_MAX_BYTES:
        if progress:
            print(f"dataset {repo_id}: {need / 2**30:.1f} GiB of frames, more than the "
                  f"{PRELOAD_MAX_BYTES / 2**30:.0f} GiB preload limit: reading from disk (--train.num_workers=N decodes in parallel)")
        preload = False
    if preload:
        dataset = InMemoryDataset(dataset, config.image_keys, progress=progress)
    return dataset, probe.meta, config


def dataset_stats(meta: Any, keys: tuple[str, ...] = (STATE_KEY, ACTION_KEY),
                  rename_map: dict[str, str] | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """The dataset's mean/std (and min/max) of ``keys`` (policy names) as float32 tensors, for the processors."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key in keys:
        stats = meta.stats.get(dataset_key(key, rename_map or {})) if meta.stats else None
        if not stats:
            raise UserError(f"dataset {meta.root} has no statistics for {key} (meta/stats.json)")
        out[key] = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in stats.items()
                    if k in ("mean", "std", "min", "max")}
    return out


def build_policy_for_training(config: MotionVLAConfig, init_from: str | None, seed: int) -> MotionVLAPolicy:
    """A fresh policy (seeded, so every process builds the same one) or one loaded from a checkpoint."""
    if init_from:
        policy = MotionVLAPolicy.from_pretrained(init_from)
        check_checkpoint_fits(policy.config, config, init_from)
        return policy
    torch.manual_seed(seed)
    return MotionVLAPolicy(config)


def make_save_extra(config: MotionVLAConfig, preprocessor: Any, postprocessor: Any, train_config: Any = None):
    """What a checkpoint folder needs besides the weights to load as a policy: config + processors; and, given
    lerobot's ``TrainPipelineConfig`` of the run, its ``train_config.json`` (as lerobot-train writes it)."""

    def save_extra(folder: Path) -> None:
        config._save_pretrained(folder)
        preprocessor.save_pretrained(folder)
        postprocessor.save_pretrained(folder)
        if train_config is not None:
            train_config.save_pretrained(folder)

    return save_extra


def make_preprocess(preprocessor: Any):
    def preprocess(batch: dict[str, Any]) -> dict[str, Any]:
        return preprocess_training_batch(preprocessor, batch)

    return preprocess


def setup_processors(config: MotionVLAConfig, meta: Any, rename_map: dict[str, str] | None = None) -> tuple[Any, Any]:
    """The policy's pre/post-processors with ``meta``'s statistics; the rename map is saved with them."""
    return make_motionvla_pre_post_processors(config, dataset_stats(meta, rename_map=rename_map), rename_map=rename_map)

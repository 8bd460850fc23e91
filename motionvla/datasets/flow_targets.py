"""Future optical-flow training targets (the policy batch's ``motion``) computed from a LeRobotDataset's
own frames, once, and cached on disk.

For frame ``t`` of an episode the target is the K flows ``t + i*s -> t + (i+1)*s`` (``i = 0..K-1``,
``s`` = frame stride), each float ``(2, h, w)`` in pixels of the *target* resolution, x then y
(DESIGN.md's flow contract). Flows that would need a frame past the episode's end are zero and marked
invalid in a ``(K,)`` mask.

Cache layout (``<dataset root>/motionvla_flow_cache/<config hash>/`` unless told otherwise)::

    manifest.json                      config, dataset fingerprint, per-episode file and frame range
    episode_000000.safetensors         flows float16 (T, K, 2, h, w), mask uint8 (T, K)
    ...

Each episode file is written atomically, so a file that exists is complete: an interrupted build
resumes by computing only the missing episodes. A cache made with another config, or for a dataset
that has since changed, is refused (or rebuilt with ``overwrite=True``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from motionvla.datasets.reading import episode_frames, episode_records
from motionvla.errors import UserError
from motionvla.keys import MOTION_KEY, MOTION_MASK_KEY, MOTION_PAST_KEY
from motionvla.flow import FlowEstimator, flow_magnitudes, resize_flow  # noqa: F401 -- resize_flow re-exported
from motionvla.utils.atomic import atomic_write_bytes, atomic_write_json

CACHE_DIRNAME = "motionvla_flow_cache"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass
class FlowTargetConfig:
    """What future-flow targets to compute for a dataset, and where to cache them."""

    camera: str = "front"
    # Future flows per frame (the K of the policy batch's motion (B, K, 2, H, W)).
    num_flows: int = 4
    # Frames between the two frames of one flow (and between consecutive flows).
    stride: int = 1
    height: int = 32
    width: int = 32
    # A motionvla.flow method: "dis", "farneback" or "raft".
    method: str = "dis"
    # Extra FlowEstimator options (e.g. {"dis_preset": "fast"} or {"raft_weights": "..."}).
    estimator_kwargs: dict[str, Any] = field(default_factory=dict)
    # Default: <dataset root>/motionvla_flow_cache/<hash of the fields above>.
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("num_flows", "stride", "height", "width"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"flow target {name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def for_motion_head(cls, config: Any, camera_key: str) -> FlowTargetConfig:
        """The targets a motion head learns: K, stride, resolution and method from its config (the fields of
        ``motionvla.policy.motion_head.MotionHeadConfig``), the flow of ``camera_key`` (the dataset's key,
        ``observation.images.<cam>``). The one place a policy's motion options become flow targets."""
        return cls(camera=camera_key.removeprefix("observation.images."), num_flows=config.motion_frames,
                   stride=config.flow_stride, height=config.motion_resolution, width=config.motion_resolution,
                   method=config.flow_method)

    def identity(self) -> dict[str, Any]:
        """The fields that decide the cache's content (everything but where it lives)."""
        out = dataclasses.asdict(self)
        out.pop("cache_dir")
        # Paths to RAFT weights etc. are part of the identity as given (json-able strings).
        out["estimator_kwargs"] = {k: str(v) if isinstance(v, Path) else v for k, v in self.estimator_kwargs.items()}
        return out

    def config_hash(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def resolve_cache_dir(self, dataset_root: str | Path) -> Path:
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        return Path(dataset_root) / CACHE_DIRNAME / self.config_hash()


def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """What identifies the dataset's content for the cache: a changed dataset invalidates it."""
    meta = dataset.meta
    return {
        "repo_id": str(meta.repo_id),
        "total_episodes": int(meta.total_episodes),
        "total_frames": int(meta.total_frames),
        "fps": int(meta.fps),
    }


def episode_file_name(episode_index: int) -> str:
    return f"episode_{episode_index:06d}.safetensors"


def future_flows(frames: np.ndarray, estimator: Any, cfg: FlowTargetConfig) -> tuple[np.ndarray, np.ndarray]:
    """Future-flow targets of one episode.

    Args:
        frames: uint8 ``(T, H, W, 3)``, the episode's frames of ``cfg.camera``.
        estimator: a :class:`~motionvla.flow.FlowEstimator` (or anything with its ``estimate_sequence``).

    Returns:
        flows float32 ``(T, K, 2, h, w)`` and mask bool ``(T, K)``.

    Flow is computed at the frames' full resolution and then area-downsampled to ``(h, w)``: DIS and
    Farneback need texture and pyramid levels that a 32x32 image does not have (DIS's patches are 8
    pixels), so estimating at full resolution and averaging is markedly more accurate than estimating
    on downsampled frames, and the cost is the same flow count either way.
    """
    k, s, h, w = cfg.num_flows, cfg.stride, cfg.height, cfg.width
    num = len(frames)
    # pair j is the flow frame j -> frame j + s; each is computed once and shared by K frames' targets.
    # Frames r, r+s, r+2s, ... are a consecutive sequence for the estimator, one per residue r < s.
    pairs = np.zeros((max(num - s, 0), 2, h, w), dtype=np.float32)
    for r in range(min(s, max(num - s, 0))):
        seq = frames[r::s]
        if len(seq) >= 2:
            pairs[r::s] = resize_flow(estimator.estimate_sequence(seq), h, w)
    flows = np.zeros((num, k, 2, h, w), dtype=np.float32)
    mask = np.zeros((num, k), dtype=bool)
    for i in range(k):
        valid = num - (i + 1) * s  # frames t < valid have pair t + i*s
        if valid > 0:
            flows[:valid, i] = pairs[i * s : i * s + valid]
            mask[:valid, i] = True
    return flows, mask


def _save_episode(path: Path, flows: np.ndarray, mask: np.ndarray, episode_index: int) -> None:
    from safetensors.numpy import save

    data = save(
        {"flows": flows.astype(np.float16), "mask": mask.astype(np.uint8)},
        metadata={"episode_index": str(episode_index), "num_frames": str(len(flows))},
    )
    atomic_write_bytes(path, data)


def _episode_file_ok(path: Path, num_frames: int) -> bool:
    """Whether ``path`` is a complete episode file for ``num_frames`` frames (atomic writes: exists = whole)."""
    if not path.exists():
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return f.metadata().get("num_frames") == str(num_frames) and set(f.keys()) == {"flows", "mask"}
    except Exception:  # noqa: BLE001 - an unreadable file is simply recomputed
        return False


def _check_manifest(manifest: dict, expected: dict, cache_dir: Path) -> None:
    for key in ("config", "dataset"):
        if manifest.get(key) != expected[key]:
            what = "flow target config" if key == "config" else "dataset (repo_id/episodes/frames/fps)"
            raise UserError(
                f"flow cache {cache_dir} was made for a different {what}: it has {manifest.get(key)}, "
                f"this run asks for {expected[key]}. Use another cache_dir, or overwrite=True to rebuild it."
            )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"flow cache {cache_dir} has format version {manifest.get('format_version')}, this code writes "
            f"{FORMAT_VERSION}; rebuild it with overwrite=True"
        )


def build_flow_cache(
    dataset: Any, cfg: FlowTargetConfig | None = None, progress: bool = True, overwrite: bool = False
) -> Path:
    """Compute and cache the future-flow targets of every episode of ``dataset`` (a LeRobotDataset).

    Episodes whose file is already complete are skipped, so an interrupted build resumes.

    Returns:
        The cache directory (load it with :class:`FlowTargets`).

    Raises:
        UserError: the cache directory holds a cache for another config or another version of the
            dataset (and ``overwrite`` is False), or the dataset lacks ``cfg.camera``.
    """
    return _build(dataset, cfg or FlowTargetConfig(), progress, overwrite)["cache_dir"]


def _build(dataset: Any, cfg: FlowTargetConfig, progress: bool, overwrite: bool) -> dict[str, Any]:
    start_time = time.perf_counter()
    cache_dir = cfg.resolve_cache_dir(dataset.root)
    records = episode_records(dataset)
    episodes = [
        {
            "episode_index": r["episode_index"],
            "start": r["start"],
            "end": r["end"],
            "file": episode_file_name(r["episode_index"]),
        }
        for r in records
    ]
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": cfg.identity(),
        "dataset": dataset_fingerprint(dataset),
        "episodes": episodes,
        "complete": False,
    }
    manifest_path = cache_dir / MANIFEST
    if manifest_path.exists():
        if overwrite:
            shutil.rmtree(cache_dir)
        else:
            _check_manifest(json.loads(manifest_path.read_text()), manifest, cache_dir)
    elif cache_dir.exists() and any(cache_dir.iterdir()):
        if not overwrite:
            raise UserError(
                f"{cache_dir} exists, holds files and has no {MANIFEST}; not a flow cache (overwrite=True to replace)"
            )
        shutil.rmtree(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(manifest_path, manifest)

    todo = [e for e in episodes if not _episode_file_ok(cache_dir / e["file"], e["end"] - e["start"])]
    estimator = FlowEstimator(cfg.method, **cfg.estimator_kwargs) if todo else None
    frames_done = 0
    flow_seconds = 0.0
    for ep in tqdm(todo, desc="flow targets", unit="episode", disable=not progress):
        frames = episode_frames(dataset, ep, cfg.camera)
        t0 = time.perf_counter()
        flows, mask = future_flows(frames, estimator, cfg)
        flow_seconds += time.perf_counter() - t0
        _save_episode(cache_dir / ep["file"], flows, mask, ep["episode_index"])
        frames_done += len(frames)
    manifest["complete"] = True
    atomic_write_json(manifest_path, manifest)
    return {
        "cache_dir": cache_dir,
        "episodes_total": len(episodes),
        "episodes_done": len(todo),
        "episodes_skipped": len(episodes) - len(todo),
        "frames_done": frames_done,
        "flow_seconds": flow_seconds,
        "seconds": time.perf_counter() - start_time,
    }


def precompute_flow_targets(
    dataset_root: str | Path, repo_id: str, *, progress: bool = True, overwrite: bool = False, **cfg: Any
) -> dict[str, Any]:
    """CLI entry: load the LeRobotDataset at ``dataset_root`` and build its flow cache.

    Args:
        **cfg: :class:`FlowTargetConfig` fields (``camera``, ``num_flows``, ``stride``, ``height``, ...).

    Returns:
        A json-able summary: ``cache_dir``, ``episodes_total``, ``episodes_done``, ``episodes_skipped``,
        ``frames_done``, ``seconds``, ``frames_per_second`` (frames of the episodes computed this run).
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    unknown = set(cfg) - {f.name for f in dataclasses.fields(FlowTargetConfig)}
    if unknown:
        accepted = ", ".join(f.name for f in dataclasses.fields(FlowTargetConfig))
        raise UserError(f"unknown flow target options {sorted(unknown)}; accepted: {accepted}")
    config = FlowTargetConfig(**cfg)
    if not Path(dataset_root).exists():
        raise UserError(f"no dataset at {dataset_root}")
    dataset = LeRobotDataset(repo_id, root=dataset_root)
    summary = _build(dataset, config, progress, overwrite)
    summary["cache_dir"] = str(summary["cache_dir"])
    done = summary["frames_done"]
    summary["frames_per_second"] = round(done / summary["seconds"], 1) if done else None
    summary["seconds"] = round(summary["seconds"], 3)
    summary["flow_seconds"] = round(summary["flow_seconds"], 3)
    return summary


class FlowTargets:
    """Read access to a flow cache by global frame index (the dataset's ``index`` field).

    Files are opened lazily (memory-mapped by safetensors) and only the requested frame is read, so
    random access from DataLoader workers stays cheap; open handles are not pickled.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)
        path = self.cache_dir / MANIFEST
        if not path.exists():
            raise UserError(f"no flow cache at {self.cache_dir} (no {MANIFEST}); build it with build_flow_cache")
        self.manifest = json.loads(path.read_text())
        if not self.manifest.get("complete"):
            raise UserError(f"flow cache {self.cache_dir} is incomplete; run build_flow_cache again to finish it")
        cfg = self.manifest["config"]
        self.num_flows, self.height, self.width = int(cfg["num_flows"]), int(cfg["height"]), int(cfg["width"])
        self.episodes = sorted(self.manifest["episodes"], key=lambda e: e["start"])
        self._starts = np.array([e["start"] for e in self.episodes], dtype=np.int64)
        self._handles: dict[str, Any] = {}

    @property
    def dataset_fingerprint(self) -> dict[str, Any]:
        return self.manifest["dataset"]

    def __len__(self) -> int:
        return int(self.manifest["dataset"]["total_frames"])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def _episode_of(self, index: int) -> dict[str, Any]:
        pos = int(np.searchsorted(self._starts, index, side="right")) - 1
        if pos < 0 or not (self.episodes[pos]["start"] <= index < self.episodes[pos]["end"]):
            raise IndexError(f"frame index {index} is in no episode of flow cache {self.cache_dir}")
        return self.episodes[pos]

    def _handle(self, name: str) -> Any:
        if name not in self._handles:
            from safetensors import safe_open

            path = self.cache_dir / name
            if not path.exists():
                raise UserError(f"flow cache file {path} is missing; run build_flow_cache again to complete it")
            self._handles[name] = safe_open(str(path), framework="numpy")
        return self._handles[name]

    def get(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Future flows of global frame ``index``: float32 ``(K, 2, h, w)`` and bool mask ``(K,)``."""
        index = int(index)
        ep = self._episode_of(index)
        handle = self._handle(ep["file"])
        row = index - ep["start"]
        flows = np.asarray(handle.get_slice("flows")[row : row + 1], dtype=np.float32)[0]
        mask = np.asarray(handle.get_slice("mask")[row : row + 1]).astype(bool)[0]
        return flows, mask

    def magnitudes(self, max_episodes: int = 64, episodes: list[int] | None = None) -> Iterator[np.ndarray]:
        """Per-pixel flow magnitudes (pixels, flattened) of the valid flows of up to ``max_episodes`` episodes spread
        evenly over the cache (or over ``episodes``, the indices trained on; deterministic: no random sampling),
        one array per episode; what :func:`motionvla.flow.codec_scale` measures the codec's scale from."""
        pool = self.episodes if episodes is None else [e for e in self.episodes if e["episode_index"] in set(episodes)]
        step = max(1, len(pool) // max_episodes)
        for ep in pool[::step]:
            flows, mask = self.episode(ep["episode_index"])
            yield flow_magnitudes(flows, mask)

    def past(self, index: int, stride: int) -> np.ndarray:
        """The observed flow of global frame ``index``: the first future flow of frame ``index - stride`` (which
        runs from ``index - stride`` to ``index`` when the cache's stride is ``stride``), float32 ``(1, 2, h, w)``;
        zeros when that frame lies before the episode's start (the arm is at rest there)."""
        ep = self._episode_of(int(index))
        if int(index) - stride < ep["start"]:
            return np.zeros((1, 2, self.height, self.width), dtype=np.float32)
        flows, _ = self.get(int(index) - stride)
        return flows[:1]

    def episode(self, episode_index: int) -> tuple[np.ndarray, np.ndarray]:
        """All of one episode: float32 ``(T, K, 2, h, w)`` and bool ``(T, K)``."""
        ep = next((e for e in self.episodes if e["episode_index"] == episode_index), None)
        if ep is None:
            raise IndexError(f"episode {episode_index} is not in flow cache {self.cache_dir}")
        handle = self._handle(ep["file"])
        return handle.get_tensor("flows").astype(np.float32), handle.get_tensor("mask").astype(bool)


class WithFlowTargets(torch.utils.data.Dataset):
    """Wraps a LeRobotDataset: each item gains ``motion`` float32 ``(K, 2, h, w)`` and ``motion_mask``
    bool ``(K,)`` for its frame (looked up by the item's ``index`` field), and with ``past_stride > 0`` also
    ``motion_past`` ``(1, 2, h, w)``, the observed flow (:meth:`FlowTargets.past`)."""

    def __init__(self, dataset: Any, targets: FlowTargets | str | Path, past_stride: int = 0) -> None:
        self.dataset = dataset
        self.past_stride = int(past_stride)
        self.targets = targets if isinstance(targets, FlowTargets) else FlowTargets(targets)
        expected = self.targets.dataset_fingerprint
        actual = dataset_fingerprint(dataset)
        if expected != actual:
            raise UserError(
                f"flow cache {self.targets.cache_dir} was built for dataset {expected}, not {actual}; rebuild it"
            )

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        item = self.dataset[idx]
        flows, mask = self.targets.get(int(item["index"]))
        item[MOTION_KEY] = torch.from_numpy(flows)
        item[MOTION_MASK_KEY] = torch.from_numpy(mask)
        if self.past_stride:
            item[MOTION_PAST_KEY] = torch.from_numpy(self.targets.past(int(item["index"]), self.past_stride))
        return item

    def __getattr__(self, name: str) -> Any:  # meta, fps, features, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

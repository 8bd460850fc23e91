"""Forecaster training samples from a LeRobotDataset's own future flows (robot demos after web video).

The flows come from the flow-target cache the policy already builds (``motionvla.datasets.flow_targets``,
computed once, resumable); the frames from the dataset. Each frame ``t`` with all K future flows inside its
episode (and ``frames_in - 1`` frames before it) is one sample in the *flow sample* layout of the prep shards
(frames uint8 ``(T_in, 3, S, S)``, flow / past_flow float32 pixels at S x S, caption = the episode's task), so
the same model, loss and evaluation apply.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from motionvla.datasets.flow_targets import FlowTargetConfig, FlowTargets, build_flow_cache
from motionvla.datasets.reading import episode_frames, episode_records
from motionvla.errors import UserError


def parse_episodes(spec: str, total: int) -> list[int]:
    """Episode indices in ``0 .. total-1`` named by ``spec``, in the order given, each once.

    ``""`` = all; otherwise comma-separated items, each an index (``"7"``, negative from the end) or a range
    ``"a:b"`` (episodes a..b-1, either end optional, negative from the end): ``":150"``, ``"-30:"``,
    ``"25:30,55:60"`` (a few episodes of each task when tasks were recorded one after another), ``"1,4,7"``.
    """
    if not spec.strip():
        return list(range(total))
    chosen: dict[int, None] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        try:
            if ":" in item:
                start, _, stop = item.partition(":")
                indices = list(range(total))[slice(int(start) if start.strip() else None,
                                                   int(stop) if stop.strip() else None)]
            else:
                index = int(item)
                if not -total <= index < total:
                    raise UserError(f"episodes {spec!r}: episode {index} does not exist (the dataset has {total})")
                indices = [index % total]
        except ValueError:
            raise UserError(f"episodes must look like '0:40', ':-10', '-10:', '25:30,55:60' or '1,4,7', "
                            f"got {spec!r}") from None
        chosen.update(dict.fromkeys(indices))
    if not chosen:
        raise UserError(f"episodes {spec!r} names no episode of the {total} in the dataset")
    return list(chosen)


class LeRobotFlowSamples(Dataset):
    """Preloaded flow samples of a LeRobotDataset's ``camera`` (see the module docstring).

    Args:
        root, repo_id: the LeRobotDataset (local; nothing is downloaded).
        camera: which camera's frames and flows.
        frames_in, num_flows, size: the forecaster's T_in, K and the sample side S.
        episodes: which episodes (see :func:`parse_episodes`), e.g. a held-out tail for evaluation.
    """

    def __init__(self, root: str, repo_id: str, *, camera: str = "front", frames_in: int = 2, num_flows: int = 4,
                 size: int = 64, episodes: str = "", progress: bool = True) -> None:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        try:
            dataset = LeRobotDataset(repo_id, root=root, video_backend="pyav")
        except (FileNotFoundError, OSError, ValueError) as err:
            raise UserError(f"{root}: cannot open a LeRobotDataset there ({err})") from None
        cache = FlowTargets(build_flow_cache(dataset, FlowTargetConfig(camera=camera, num_flows=num_flows, stride=1,
                                                                         height=size, width=size), progress=progress))
        records = episode_records(dataset)
        chosen = parse_episodes(episodes, len(records))
        self.items: list[dict] = []
        for n in tqdm(chosen, desc="forecast samples", disable=not progress):
            record = records[n]
            frames = episode_frames(dataset, record, camera)
            frames = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])
            flows, masks = cache.episode(record["episode_index"])
            for t in range(frames_in - 1, len(frames)):
                if not masks[t].all():
                    continue
                past = np.stack([flows[i, 0] for i in range(t - frames_in + 1, t)]) if frames_in > 1 else \
                    np.zeros((0, 2, size, size), np.float32)
                self.items.append({"frames": torch.from_numpy(frames[t - frames_in + 1:t + 1].transpose(0, 3, 1, 2).copy()),
                                   "flow": torch.from_numpy(np.ascontiguousarray(flows[t], dtype=np.float32)),
                                   "past_flow": torch.from_numpy(np.ascontiguousarray(past, dtype=np.float32)),
                                   "caption": record["task"], "meta": {"episode": record["episode_index"], "t0": t},
                                   "key": f"ep{record['episode_index']:06d}-{t:06d}"})
        if not self.items:
            raise UserError(f"{root}: no frame of episodes {episodes or 'all'} has {num_flows} future flows")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def keys(self) -> list[str]:
        """Each sample's key (``ep{episode:06d}-{frame:06d}``), in index order."""
        return [item["key"] for item in self.items]

    def __getitem__(self, index: int) -> dict:
        return self.items[index]

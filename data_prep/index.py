"""Random access to the samples of prep output folders (a map-style torch dataset).

:class:`~data_prep.reader.FlowShardDataset` streams; training loops that resume exactly (``motionvla.train``)
need ``len`` and ``dataset[i]``. :class:`FlowShardIndex` reads each shard's tar headers once (no data), keeps
every member's byte offset, and reads a sample with one seek per member -- no extraction, no copy of the shards.
"""

from __future__ import annotations

import tarfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from data_prep.reader import shard_paths
from data_prep.shards import SAMPLE_MEMBERS, decode_sample
from motionvla.errors import UserError


class FlowShardIndex(Dataset):
    """``dataset[i]`` -> the flow sample of :class:`~data_prep.reader.FlowShardDataset` (same keys and types).

    Args:
        folders: one prep output folder or several; samples are numbered folder by folder, shard by shard.
        weights: optional sampling weight per folder, exposed as :attr:`sample_weights` (one per sample, for a
            ``WeightedRandomSampler``); the index itself stays a plain concatenation.
    """

    def __init__(self, folders: str | Path | Sequence[str | Path], weights: Sequence[float] | None = None) -> None:
        self.folders = [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]
        if not self.folders:
            raise UserError("FlowShardIndex needs at least one shard folder")
        if weights is not None and (len(weights) != len(self.folders) or min(weights) <= 0):
            raise UserError(f"weights must be {len(self.folders)} positive numbers (one per folder), got {list(weights)}")
        self.entries: list[tuple[Path, str, dict[str, tuple[int, int]]]] = []
        self.folder_of: list[int] = []
        for n, folder in enumerate(self.folders):
            for shard in shard_paths(folder):
                for key, members in _member_offsets(shard):
                    missing = [m for m in SAMPLE_MEMBERS if m not in members]
                    if missing:
                        raise UserError(f"{shard}: sample {key} lacks {', '.join(missing)} (not a flow shard?)")
                    self.entries.append((shard, key, members))
                    self.folder_of.append(n)
        if not self.entries:
            raise UserError(f"{', '.join(map(str, self.folders))}: the shards hold no samples")
        w = list(weights) if weights is not None else [1.0] * len(self.folders)
        counts = [self.folder_of.count(n) for n in range(len(self.folders))]
        self.sample_weights = [w[f] / counts[f] for f in self.folder_of]

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def keys(self) -> list[str]:
        """Each sample's key, in index order."""
        return [entry[1] for entry in self.entries]

    def __getitem__(self, index: int) -> dict:
        shard, key, members = self.entries[index]
        data = {}
        with open(shard, "rb") as handle:
            for name, (offset, size) in members.items():
                handle.seek(offset)
                data[name] = handle.read(size)
        sample = decode_sample(data)
        return {"frames": torch.from_numpy(sample["frames"]), "flow": torch.from_numpy(sample["flow"]),
                "past_flow": torch.from_numpy(sample["past_flow"]), "caption": sample["caption"],
                "meta": sample["meta"], "key": key}


def _member_offsets(shard: Path) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    samples: dict[str, dict[str, tuple[int, int]]] = {}
    with tarfile.open(shard, mode="r:") as tar:
        for member in tar.getmembers():
            if member.isfile():
                key, _, ext = member.name.partition(".")
                samples.setdefault(key, {})[ext] = (member.offset_data, member.size)
    return list(samples.items())

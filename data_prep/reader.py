"""``FlowShardDataset``: a streaming torch dataset over a prep output folder (or several, mixed by weight).

Plain ``webdataset.WebDataset("DIR/shard-{000000..000009}.tar")`` reads the same shards; this class adds what
training needs: shards split across DataLoader workers and distributed ranks, a shuffle buffer, mixtures of
folders, and samples decoded into the *flow sample* of docs/data_prep.md with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import random
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import IterableDataset, get_worker_info

from data_prep.records import CONFIG, STATS
from data_prep.shards import decode_sample
from motionvla.errors import UserError


def shard_paths(folder: str | Path) -> list[Path]:
    """The shards of a prep output folder, in order; a clear error for anything that is not one."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"{root}: not a folder of flow shards")
    shards = sorted(root.glob("shard-*.tar"))
    if not shards:
        hint = "" if (root / CONFIG).is_file() else f" (no {CONFIG}: not a `motionvla prep` output folder)"
        raise UserError(f"{root}: holds no shard-*.tar files{hint}")
    return shards


def iter_shard(path: Path) -> Iterator[dict]:
    """Samples of one shard as member dicts (``__key__`` + bytes per extension), in file order."""
    current: dict = {}
    with tarfile.open(path, mode="r|") as tar:  # streaming mode: no random access, works on any tar stream
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.partition(".")
            if current and current["__key__"] != key:
                yield current
                current = {}
            current["__key__"] = key
            current[ext] = tar.extractfile(member).read()
    if current:
        yield current


def _split(items: list, parts: int, index: int) -> list:
    return items[index::parts]


class FlowShardDataset(IterableDataset):
    """Streams flow samples from one or more prep output folders.

    Each item: ``frames`` uint8 tensor ``(T_in, 3, H, W)``; ``flow`` float32 ``(K, 2, H, W)`` and ``past_flow``
    float32 ``(T_in - 1, 2, H, W)`` in pixels at ``H x W``; ``caption`` str; ``meta`` dict (source, video_id, t0,
    fps, flow_scale, camera fit, ...); ``key`` str.

    Args:
        folders: one folder or a list of them.
        weights: with several folders, the mixing weights (samples are drawn from folder f with probability
            proportional to its weight until every folder is exhausted); None = concatenate in order.
        shuffle: shuffle shard order and samples (buffer of ``shuffle_buffer``), seeded by ``seed`` + ``epoch``.
        repeat: cycle forever (for step-based training).
    """

    def __init__(self, folders: str | Path | Sequence[str | Path], *, weights: Sequence[float] | None = None,
                 shuffle: bool = False, shuffle_buffer: int = 256, seed: int = 0, repeat: bool = False) -> None:
        super().__init__()
        self.folders = [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]
        if not self.folders:
            raise UserError("FlowShardDataset needs at least one shard folder")
        self.shards = [shard_paths(f) for f in self.folders]
        if weights is not None and (len(weights) != len(self.folders) or min(weights) <= 0):
            raise UserError(f"weights must be {len(self.folders)} positive numbers (one per folder), got {list(weights)}")
        self.weights = list(weights) if weights is not None else None
        self.shuffle, self.shuffle_buffer, self.seed, self.repeat = shuffle, shuffle_buffer, seed, repeat
        self.epoch = 0

    def __len__(self) -> int:
        """Samples in all folders, from their stats.json (the books written by ``motionvla prep``)."""
        total = 0
        for folder in self.folders:
            stats = folder / STATS
            if not stats.is_file():
                raise TypeError(f"{folder} has no {STATS}: length unknown")
            total += int(json.loads(stats.read_text())["samples"])
        return total

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _my_shards(self, shards: list[Path], order: random.Random) -> list[Path]:
        """This worker's (and rank's) share; ``order`` is seeded alike everywhere so the shares partition."""
        shards = list(shards)
        if self.shuffle:
            order.shuffle(shards)
        rank, world = 0, 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        return _split(_split(shards, world, rank), workers, worker)

    def _folder_stream(self, shards: list[Path], order: random.Random) -> Iterator[dict]:
        for shard in self._my_shards(shards, order):
            yield from iter_shard(shard)

    def _raw(self, epoch: int, rng: random.Random) -> Iterator[dict]:
        streams = [self._folder_stream(s, random.Random(hash((self.seed, epoch, n))))
                   for n, s in enumerate(self.shards)]
        if self.weights is None:
            for stream in streams:
                yield from stream
            return
        live = list(range(len(streams)))
        while live:
            pick = rng.choices(live, weights=[self.weights[i] for i in live])[0]
            try:
                yield next(streams[pick])
            except StopIteration:
                live.remove(pick)

    def _shuffled(self, epoch: int, rng: random.Random) -> Iterator[dict]:
        if not self.shuffle:
            yield from self._raw(epoch, rng)
            return
        buffer: list[dict] = []
        for sample in self._raw(epoch, rng):
            buffer.append(sample)
            if len(buffer) >= self.shuffle_buffer:
                yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer

    def __iter__(self) -> Iterator[dict]:
        epoch = self.epoch
        while True:
            info = get_worker_info()
            rng = random.Random(hash((self.seed, epoch, info.id if info else 0, "samples")))
            for members in self._shuffled(epoch, rng):
                sample = decode_sample(members)
                yield {"frames": torch.from_numpy(sample["frames"]), "flow": torch.from_numpy(sample["flow"]),
                       "past_flow": torch.from_numpy(sample["past_flow"]), "caption": sample["caption"],
                       "meta": sample["meta"], "key": members["__key__"]}
            if not self.repeat:
                return
            epoch += 1


def collate_flow_samples(samples: list[dict]) -> dict:
    """Stacks tensors into a batch; captions, keys and meta stay lists (meta dicts differ in shape)."""
    batch = {name: torch.stack([s[name] for s in samples]) for name in ("frames", "flow", "past_flow")}
    batch["caption"] = [s["caption"] for s in samples]
    batch["key"] = [s["key"] for s in samples]
    batch["meta"] = [s["meta"] for s in samples]
    return batch


def read_sample(folder: str | Path, key: str) -> dict:
    """One sample by key (a linear scan: for tools and tests, not training)."""
    for shard in shard_paths(folder):
        for members in iter_shard(shard):
            if members["__key__"] == key:
                sample = decode_sample(members)
                return {**sample, "key": key}
    raise KeyError(f"{folder}: no sample with key {key!r}")


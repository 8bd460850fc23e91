"""``FlowShardDataset``: a streaming torch dataset over a prep output folder (or several, mixed by weight).

Plain ``webdataset.WebDataset("DIR/shard-{000000..000009}.tar")`` reads the same shards; this class is built on
webdataset's pipeline stages (``SimpleShardList`` → ``split_by_node`` → ``split_by_worker`` →
``tarfile_to_samples`` → a seeded shuffle buffer) and adds what training needs on top: an order that depends only
on the seed (never on the process), mixtures of folders by weight, a resume position, and samples decoded into
the *flow sample* of docs/data_prep.md with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import random
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import webdataset as wds
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
        skip: samples of this stream (this rank and DataLoader worker) to pass over first: to resume where an
            earlier run with the same seed stopped (the order depends only on seed, epoch, rank and worker).
    """

    def __init__(self, folders: str | Path | Sequence[str | Path], *, weights: Sequence[float] | None = None,
                 shuffle: bool = False, shuffle_buffer: int = 256, seed: int = 0, repeat: bool = False,
                 skip: int = 0) -> None:
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
        if skip < 0:
            raise UserError(f"skip must be >= 0 (samples this stream already gave), got {skip}")
        self.skip = skip

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

    def _rng(self, epoch: int, *parts: object) -> random.Random:
        # random.Random(str) seeds from the string's SHA-512: the same in every process. (hash() of a tuple that
        # holds a str is not: Python salts string hashes per process, which made the order differ run to run.)
        return random.Random("/".join(str(p) for p in (self.seed, epoch, *parts)))

    def _folder_pipeline(self, n: int, epoch: int) -> wds.DataPipeline:
        """Folder ``n``'s samples for this rank and worker: its shard list (shuffled alike on every rank and
        worker, so the shares partition it), split by node then by worker, read as webdataset samples."""
        urls = [str(p) for p in self.shards[n]]
        if self.shuffle:
            self._rng(epoch, "shards", n).shuffle(urls)
        return wds.DataPipeline(wds.SimpleShardList(urls), wds.split_by_node, wds.split_by_worker,
                                wds.tarfile_to_samples())

    def _mixed(self, epoch: int, rng: random.Random) -> Iterator[dict]:
        streams = [iter(self._folder_pipeline(n, epoch)) for n in range(len(self.shards))]
        if self.weights is None:
            for stream in streams:
                yield from stream
            return
        # webdataset's RandomMix draws from the global `random` module, which cannot be seeded per dataset;
        # this is the same weighted draw (until every folder is exhausted) from the seeded ``rng``.
        live = list(range(len(streams)))
        while live:
            pick = rng.choices(live, weights=[self.weights[i] for i in live])[0]
            try:
                yield next(streams[pick])
            except StopIteration:
                live.remove(pick)

    def _epoch_samples(self, epoch: int) -> Iterator[dict]:
        info = get_worker_info()
        rng = self._rng(epoch, "samples", info.id if info else 0)
        samples = self._mixed(epoch, rng)
        if self.shuffle:
            samples = wds.shuffle(self.shuffle_buffer, min(self.shuffle_buffer, 100), rng=rng)(samples)
        yield from samples

    def __iter__(self) -> Iterator[dict]:
        epoch, skip = self.epoch, self.skip
        while True:
            for members in self._epoch_samples(epoch):
                if skip:
                    skip -= 1
                    continue
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


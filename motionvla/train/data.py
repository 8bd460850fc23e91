"""Resumable data order: a permutation per (seed, epoch), sharded by process, skippable by position.

The order of batches depends only on ``(seed, epoch)`` and the process layout, never on the global
RNG, so a resumed run sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from motionvla.errors import UserError


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A torch generator seeded by (seed, epoch) alone."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of one epoch for one process: ``randperm(n)`` of (seed, epoch), cut into global batches
    of ``batch_size * world_size`` (the incomplete last one dropped), each split by rank. Starts at
    batch ``start``."""

    def __init__(self, n: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world_size: int = 1,
                 start: int = 0):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.rank, self.world_size, self.start = rank, world_size, start

    @staticmethod
    def batches_per_epoch(n: int, batch_size: int, world_size: int) -> int:
        return n // (batch_size * world_size)

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch(self.n, self.batch_size, self.world_size) - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        perm = torch.randperm(self.n, generator=epoch_generator(self.seed, self.epoch)).tolist()
        global_batch = self.batch_size * self.world_size
        for b in range(self.start, self.batches_per_epoch(self.n, self.batch_size, self.world_size)):
            lo = b * global_batch + self.rank * self.batch_size
            yield perm[lo : lo + self.batch_size]


class BatchStream:
    """An endless stream of this process's micro-batches that knows where it is (epoch, position).

    ``position`` counts batches *consumed* (handed out by :meth:`next`) in the current epoch, so a
    checkpoint taken between steps resumes at the next unseen batch even with prefetching workers.
    """

    def __init__(self, dataset: Dataset, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1,
                 num_workers: int = 0, collate_fn: Callable[[list[Any]], Any] | None = None,
                 epoch: int = 0, position: int = 0):
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.world_size, self.num_workers, self.collate_fn = rank, world_size, num_workers, collate_fn
        self.epoch, self.position = epoch, position
        n = len(dataset)  # type: ignore[arg-type]
        if EpochBatchSampler.batches_per_epoch(n, batch_size, world_size) < 1:
            raise UserError(
                f"dataset has {n} items, fewer than one batch ({batch_size} per process x {world_size} processes); "
                "use a smaller batch_size or more data"
            )
        self._iter: Iterator[Any] | None = None

    def _open(self) -> Iterator[Any]:
        sampler = EpochBatchSampler(len(self.dataset), self.batch_size, seed=self.seed, epoch=self.epoch,  # type: ignore[arg-type]
                                    rank=self.rank, world_size=self.world_size, start=self.position)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.num_workers,
                            collate_fn=self.collate_fn, generator=epoch_generator(self.seed + 1, self.epoch),
                            persistent_workers=False)
        return iter(loader)

    def next(self) -> Any:
        """The next micro-batch (opening the next epoch when this one is exhausted)."""
        for _ in range(2):
            if self._iter is None:
                self._iter = self._open()
            try:
                batch = next(self._iter)
            except StopIteration:
                self._iter, self.epoch, self.position = None, self.epoch + 1, 0
                continue
            self.position += 1
            return batch
        raise RuntimeError("data stream produced no batch for a whole epoch")

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def close(self) -> None:
        self._iter = None

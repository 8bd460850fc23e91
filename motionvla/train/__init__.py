"""Shared training loop: config, pure train step, resumable data order, atomic checkpoints, metrics logs.

``train(model, dataset, TrainConfig(...))`` is the entry point (see :mod:`motionvla.train.loop`).
"""

from motionvla.train.config import TrainConfig
from motionvla.train.loop import PRETRAINED_DIR, make_accelerator, train
from motionvla.train.metrics import read_metrics

__all__ = ["PRETRAINED_DIR", "TrainConfig", "make_accelerator", "read_metrics", "train"]

"""Training data for the forecaster and the wiring into ``motionvla.train.train`` (the policy's own loop:
accelerate, exact resume, atomic checkpoints, metrics, EMA)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from motionvla.errors import UserError
from motionvla.flow import codec_scale
from motionvla.flow_forecast.modeling import FlowForecaster


class WeightedMixture(Dataset):
    """A fixed, deterministic mixture of datasets: dataset d's items appear ``round(w_d / min(w))`` times per
    epoch, so the training loop's seeded permutation (and therefore exact resume) works unchanged."""

    def __init__(self, datasets: Sequence[Dataset], weights: Sequence[float]) -> None:
        if len(datasets) != len(weights) or min(weights) <= 0:
            raise UserError(f"need one positive weight per data folder, got {list(weights)} for {len(datasets)}")
        self.datasets = list(datasets)
        low = min(weights)
        self.index = [(d, i) for d, (ds, w) in enumerate(zip(self.datasets, weights))
                      for _ in range(max(1, round(w / low))) for i in range(len(ds))]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, n: int):
        d, i = self.index[n]
        return self.datasets[d][i]


def open_shard_folders(folders: Sequence[str], weights: Sequence[float] | None = None) -> Dataset:
    """Map-style training data from prep output folders (one :class:`~data_prep.index.FlowShardIndex` each)."""
    from data_prep.index import FlowShardIndex

    if not folders:
        raise UserError("--data is required: one or more `motionvla prep` output folders (comma-separated)")
    parts = [FlowShardIndex(folder) for folder in folders]
    if len(parts) == 1 and not weights:
        return parts[0]
    return WeightedMixture(parts, weights or [1.0] * len(parts))


def collate_forecast(samples: list[dict]) -> dict:
    """frames uint8 ``(B, T_in, 3, H, W)``, flow / past_flow float32, caption list (meta and keys dropped)."""
    return {"frames": torch.stack([s["frames"] for s in samples]), "flow": torch.stack([s["flow"] for s in samples]),
            "past_flow": torch.stack([s["past_flow"] for s in samples]), "caption": [s["caption"] for s in samples]}


def measure_flow_scale(dataset: Dataset, resolution: int, percentile: float = 99.5, max_samples: int = 256) -> float:
    """The ``percentile`` of future-flow magnitudes over up to ``max_samples`` evenly spaced samples, in pixels at
    ``resolution`` (vectors scale with the image): the motion-image codec's scale, recorded in the model."""
    step = max(1, len(dataset) // max_samples)
    mags = []
    for i in range(0, len(dataset), step):
        flow = dataset[i]["flow"].float()
        mags.append((flow.norm(dim=1) * (resolution / flow.shape[-1])).flatten().numpy())
    return codec_scale(mags, percentile, "the training flows", "--model.flow_max_magnitude")


def check_compatible(model: FlowForecaster, sample: dict) -> None:
    """The data's frames_in and K must be the model's (a clear error naming both)."""
    t_in, k = sample["frames"].shape[0], sample["flow"].shape[0]
    if (t_in, k) != (model.cfg.frames_in, model.cfg.num_frames):
        raise UserError(f"the data has frames_in={t_in}, K={k}; the model reads frames_in={model.cfg.frames_in} and "
                        f"predicts K={model.cfg.num_frames}: set --model.frames_in / --model.num_frames (or prep "
                        "--frames_in / --future) to match")


def save_model_files(model: FlowForecaster):
    """``save_extra`` for the training loop: every checkpoint and ``pretrained_model/`` gets the model's
    config.json (diffusers format), so each is loadable by ``FlowForecastPipeline.from_pretrained``."""

    def save(folder: Path) -> None:
        folder = Path(folder)
        config = dict(model.config)
        config["_class_name"] = type(model).__name__
        (folder / model.config_name).write_text(json.dumps(config, indent=2, default=list) + "\n")

    return save

"""``FlowForecastPipeline``: images + prompts in, future flows and motion images out (diffusers style)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file

from motionvla.errors import UserError
from motionvla.flow_forecast.modeling import FlowForecaster

# diffusers' save_pretrained writes the first; motionvla.train's checkpoints and pretrained_model/ the second.
WEIGHTS_FILES = ("diffusion_pytorch_model.safetensors", "model.safetensors")


@dataclass
class FlowForecastOutput:
    """``flows`` float32 ``(B, S, K, 2, r, r)`` in pixels at r x r; ``motion_images`` uint8 ``(B, S, K, 3, r, r)``."""

    flows: np.ndarray
    motion_images: np.ndarray


def _as_frames(images, frames_in: int) -> torch.Tensor:
    """A list of uint8 H x W x 3 arrays / PIL images (one per sample), or a float (B, 3, H, W) tensor in [0, 1]
    -> float (B, frames_in, 3, H, W); a single image per sample is repeated as every observed frame."""
    if isinstance(images, torch.Tensor):
        if images.dim() != 4 or images.shape[1] != 3:
            raise UserError(f"images: a float tensor must be (B, 3, H, W), got {tuple(images.shape)}")
        x = images.float()
    else:
        if not isinstance(images, (list, tuple)) or not images:
            raise UserError("images: give a non-empty list of H x W x 3 uint8 arrays or PIL images")
        arrays = []
        for n, img in enumerate(images):
            arr = np.asarray(img.convert("RGB")) if isinstance(img, Image.Image) else np.asarray(img)
            if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
                raise UserError(f"images[{n}]: expected uint8 H x W x 3, got {arr.dtype} {arr.shape}")
            arrays.append(torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0)
        sizes = {tuple(a.shape) for a in arrays}
        if len(sizes) > 1:
            arrays = [torch.nn.functional.interpolate(a[None], size=arrays[0].shape[1:], mode="bilinear")[0]
                      for a in arrays]
        x = torch.stack(arrays)
    return x[:, None].expand(-1, frames_in, -1, -1, -1)


class FlowForecastPipeline:
    """Calls a :class:`FlowForecaster` like a function. ``from_pretrained(path)`` loads a saved forecaster (a
    training run's ``pretrained_model/`` or any ``save_pretrained`` folder)."""

    def __init__(self, model: FlowForecaster) -> None:
        self.model = model.eval()

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu") -> FlowForecastPipeline:
        folder = Path(path)
        if folder.is_dir() and (folder / "pretrained_model").is_dir():
            folder = folder / "pretrained_model"  # a finished training run
        if not folder.is_dir():
            raise UserError(f"{path}: no such forecaster folder")
        if not (folder / FlowForecaster.config_name).is_file():
            raise UserError(f"{folder}: missing {FlowForecaster.config_name} (not a saved forecaster, or half-written)")
        weights = next((folder / name for name in WEIGHTS_FILES if (folder / name).is_file()), None)
        if weights is None:
            raise UserError(f"{folder}: missing the weights ({' or '.join(WEIGHTS_FILES)})")
        try:
            config = json.loads((folder / FlowForecaster.config_name).read_text())
            model = FlowForecaster(forecaster=config.get("forecaster"))
            model.load_state_dict(load_file(str(weights)), strict=True)
        except (OSError, ValueError, RuntimeError, TypeError, SafetensorError, json.JSONDecodeError) as err:
            raise UserError(f"{folder}: cannot load the forecaster ({' '.join(str(err).split())[:300]})") from None
        return cls(model.to(device))

    def save_pretrained(self, path: str | Path) -> None:
        self.model.save_pretrained(str(path), safe_serialization=True)

    @torch.no_grad()
    def __call__(self, images, prompts: list[str], *, num_inference_steps: int | None = None,
                 generator: torch.Generator | None = None, num_samples: int = 1) -> FlowForecastOutput:
        """Forecast for each (image, prompt): see :class:`FlowForecastOutput` for the shapes."""
        if isinstance(prompts, str):
            prompts = [prompts]
        frames = _as_frames(images, self.model.cfg.frames_in)
        if len(prompts) != frames.shape[0]:
            raise UserError(f"{len(prompts)} prompts for {frames.shape[0]} images: give one prompt per image")
        device = next(self.model.parameters()).device
        flows, images01 = self.model.forecast(frames.to(device), list(prompts), num_inference_steps=num_inference_steps,
                                              num_samples=num_samples, generator=generator)
        return FlowForecastOutput(flows.cpu().numpy().astype(np.float32),
                                  (images01.cpu().numpy() * 255).round().astype(np.uint8))

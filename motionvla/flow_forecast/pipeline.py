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

from motionvla.errors import CheckpointError, UserError
from motionvla.flow_forecast.modeling import FlowForecaster
from motionvla.utils.hub import local_or_hub

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


def _with_previous(frames: torch.Tensor, previous_images, frames_in: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``frames (B, 2, 3, H, W)`` with the previous frames in slot 0, and DIS flows previous -> current
    ``(B, 2, H, W)`` in pixels."""
    from motionvla.flow import estimate_flow

    if frames_in != 2:
        raise UserError(f"previous_images works with frames_in=2 forecasters; this one reads {frames_in} frames")
    previous = _as_frames(previous_images, 1)[:, 0]
    if previous.shape[0] != frames.shape[0]:
        raise UserError(f"{previous.shape[0]} previous images for {frames.shape[0]} images: give one per image")
    current = frames[:, -1]
    if previous.shape[-2:] != current.shape[-2:]:
        previous = torch.nn.functional.interpolate(previous, size=current.shape[-2:], mode="bilinear")
    to_uint8 = lambda x: (x.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()  # noqa: E731
    flows = np.stack([estimate_flow(to_uint8(a), to_uint8(b)) for a, b in zip(previous, current)])
    return torch.stack([previous, current], dim=1), torch.from_numpy(flows)


def _as_past_flows(past_flows, batch: int, need: int) -> torch.Tensor | None:
    """``past_flows`` as float ``(B, need, 2, H, W)``, or None when the model does not use them."""
    if not need:
        return None
    if past_flows is None:
        raise UserError(f"this forecaster is conditioned on the observed flow: pass previous_images=[the frame before "
                        f"each image] (flow estimated with DIS), or past_flows=(B, {need}, 2, H, W) float pixels "
                        "(frame t-1 -> t)")
    x = torch.as_tensor(np.asarray(past_flows, dtype=np.float32) if not isinstance(past_flows, torch.Tensor)
                        else past_flows).float()
    if x.dim() == 4:
        x = x[:, None]
    if x.dim() != 5 or x.shape[0] != batch or x.shape[1:3] != (need, 2):
        raise UserError(f"past_flows must be ({batch}, 2, H, W) or ({batch}, {need}, 2, H, W), got {tuple(x.shape)}")
    return x


class FlowForecastPipeline:
    """Calls a :class:`FlowForecaster` like a function. ``from_pretrained(path)`` loads a saved forecaster (a
    training run's ``pretrained_model/`` or any ``save_pretrained`` folder)."""

    def __init__(self, model: FlowForecaster) -> None:
        self.model = model.eval()

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu") -> FlowForecastPipeline:
        """A saved forecaster folder, a finished training run, or a Hub id (``owner/name``, resolved to its local
        snapshot: downloaded, or from the cache under ``HF_HUB_OFFLINE=1``)."""
        folder = local_or_hub(path, "forecaster", "--checkpoint")
        if folder.is_dir() and (folder / "pretrained_model").is_dir():
            folder = folder / "pretrained_model"  # a finished training run
        if not folder.is_dir():
            raise CheckpointError(f"{path}: no such forecaster folder")
        if not (folder / FlowForecaster.config_name).is_file():
            raise CheckpointError(f"{folder}: missing {FlowForecaster.config_name} (not a saved forecaster, or half-written)")
        weights = next((folder / name for name in WEIGHTS_FILES if (folder / name).is_file()), None)
        if weights is None:
            raise CheckpointError(f"{folder}: missing the weights ({' or '.join(WEIGHTS_FILES)})")
        try:
            config = json.loads((folder / FlowForecaster.config_name).read_text())
            model = FlowForecaster(forecaster=config.get("forecaster"))
            model.load_state_dict(load_file(str(weights)), strict=True)
        except (OSError, ValueError, RuntimeError, TypeError, SafetensorError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{folder}: cannot load the forecaster ({' '.join(str(err).split())[:300]})") from None
        return cls(model.to(device))

    def save_pretrained(self, path: str | Path) -> None:
        self.model.save_pretrained(str(path), safe_serialization=True)

    @torch.no_grad()
    def __call__(self, images, prompts: list[str], *, num_inference_steps: int | None = None,
                 generator: torch.Generator | None = None, num_samples: int = 1,
                 past_flows=None, previous_images=None) -> FlowForecastOutput:
        """Forecast for each (image, prompt): see :class:`FlowForecastOutput` for the shapes.

        ``past_flows``: the flow observed up to each image, float ``(B, 2, H, W)`` or ``(B, T_in - 1, 2, H, W)``
        in pixels (frame t-1 -> t, e.g. from :func:`motionvla.flow.estimate_flow`); required by a forecaster
        trained with ``past_flow_condition`` and ignored otherwise. ``previous_images``: the frame before each
        image (same forms as ``images``; for ``frames_in = 2``): the model then sees both frames, and a missing
        ``past_flows`` is estimated between them with DIS (``motionvla.flow``, the data prep's default).
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        frames = _as_frames(images, self.model.cfg.frames_in)
        if previous_images is not None:
            frames, estimated = _with_previous(frames, previous_images, self.model.cfg.frames_in)
            if past_flows is None and self.model.cfg.past_flows:
                past_flows = estimated
        if len(prompts) != frames.shape[0]:
            raise UserError(f"{len(prompts)} prompts for {frames.shape[0]} images: give one prompt per image")
        device = next(self.model.parameters()).device
        past = _as_past_flows(past_flows, frames.shape[0], self.model.cfg.past_flows)
        flows, images01 = self.model.forecast(frames.to(device), list(prompts), num_inference_steps=num_inference_steps,
                                              num_samples=num_samples, generator=generator,
                                              past_flow=None if past is None else past.to(device))
        return FlowForecastOutput(flows.cpu().numpy().astype(np.float32),
                                  (images01.cpu().numpy() * 255).round().astype(np.uint8))

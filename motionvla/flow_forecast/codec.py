"""What the DiT generates: future flow as motion images, in pixel space or as a diffusers VAE's latents.

Both codecs map flow ``(B, K, 2, H, W)`` (pixels at H x W) to the DiT's data ``(B, K·C, r', r')`` in about
[-1, 1] and back, through :mod:`motionvla.flow`'s motion-image codec at a fixed, recorded scale:

- ``pixel``: the K motion images at ``resolution`` r, stacked as channels (C = 3, r' = r).
- ``vae``: each motion image encoded by a frozen ``AutoencoderKL`` (C = latent channels, r' = r / 2^(blocks-1)),
  times the VAE's ``scaling_factor`` -- FOFPred's route (a FLUX.1 16-channel VAE at real scale).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from motionvla.flow import motion_image_float_to_flow
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.flow_forecast.motion_dit import motion_targets


def resize_frames(frames: Tensor, size: int) -> Tensor:
    """``(B, T, 3, H, W)`` float in [0, 1] -> ``(B, T, 3, size, size)`` (area when shrinking)."""
    b, t, c, h, w = frames.shape
    x = frames.reshape(b * t, c, h, w)
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="area" if h >= size else "bilinear", align_corners=None)
    return x.reshape(b, t, c, size, size)


def build_vae(cfg: ForecasterConfig) -> nn.Module:
    """The frozen VAE: loaded from ``cfg.vae_path`` when given, else built from the config (random weights:
    only for tests and for sizing)."""
    from diffusers import AutoencoderKL

    if cfg.vae_path:
        vae = AutoencoderKL.from_pretrained(cfg.vae_path)
    else:
        blocks = len(cfg.vae_block_channels)
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=cfg.vae_latent_channels,
                            block_out_channels=cfg.vae_block_channels, layers_per_block=1,
                            down_block_types=("DownEncoderBlock2D",) * blocks,
                            up_block_types=("UpDecoderBlock2D",) * blocks, norm_num_groups=min(32, cfg.vae_block_channels[0]),
                            sample_size=cfg.resolution)
    vae.requires_grad_(False)
    vae.eval()
    return vae


class MotionCodec(nn.Module):
    """Flow <-> DiT data (see the module docstring). ``vae`` is None for the pixel codec."""

    def __init__(self, cfg: ForecasterConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vae = build_vae(cfg) if cfg.codec == "vae" else None

    @property
    def scale(self) -> float:
        if self.cfg.flow_max_magnitude <= 0:
            raise ValueError("the codec scale (flow_max_magnitude) is not set: measure it from the training flows")
        return self.cfg.flow_max_magnitude

    def _vae_scale(self) -> float:
        return float(getattr(self.vae.config, "scaling_factor", 1.0))

    def _encode_images(self, images: Tensor) -> Tensor:
        """``(B, N, 3, r, r)`` in [0, 1] -> ``(B, N·C, r', r')``."""
        b, n = images.shape[:2]
        x = images.reshape(b * n, *images.shape[2:]) * 2 - 1
        if self.vae is not None:
            with torch.no_grad():
                x = self.vae.encode(x).latent_dist.mode() * self._vae_scale()
        return x.reshape(b, n * x.shape[1], *x.shape[2:])

    def encode_flow(self, flow: Tensor) -> Tensor:
        """Flows ``(B, N, 2, H, W)`` (N = K future flows, or the observed ones) -> ``(B, N·C, r', r')``."""
        b, n, r = flow.shape[0], flow.shape[1], self.cfg.resolution
        if n == 0:
            return flow.new_zeros(b, 0, self.cfg.latent_resolution, self.cfg.latent_resolution)
        images = motion_targets(flow, r, self.scale)  # (B, 3N, r, r) in [0, 1]
        return self._encode_images(images.reshape(b, n, 3, r, r))

    def encode_frames(self, frames: Tensor) -> Tensor:
        """Input frames ``(B, T_in, 3, H, W)`` float in [0, 1] -> the DiT's condition ``(B, T_in·C, r', r')``."""
        return self._encode_images(resize_frames(frames, self.cfg.resolution))

    def decode(self, data: Tensor) -> tuple[Tensor, Tensor]:
        """DiT data -> ``(flows (B, K, 2, r, r) pixels at r, motion images (B, K, 3, r, r) in [0, 1])``."""
        b, k, r = data.shape[0], self.cfg.num_frames, self.cfg.resolution
        x = data.reshape(b * k, data.shape[1] // k, *data.shape[2:])
        if self.vae is not None:
            with torch.no_grad():
                x = self.vae.decode(x / self._vae_scale()).sample
        images = ((x.float() + 1) / 2).clamp(0, 1).reshape(b, k, 3, r, r)
        flows = motion_image_float_to_flow(images.reshape(b * k, 3, r, r), self.scale).reshape(b, k, 2, r, r)
        return flows, images

"""The motion DiT: a diffusers PixArt transformer generating K future motion images by flow matching.

The same model is the policy's motion head and the flow forecaster's generator: it only needs
conditioning hidden states ``(B, L, D)`` with a mask, and optionally an image (the current frame) laid
under the noisy input. In the pixel codec it works directly in motion-image space (no VAE): the K images
are stacked as channels, ``(B, 3K, r, r)``, scaled to [-1, 1]; ``data_channels`` lets a latent codec use
another channel count.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers import PixArtTransformer2DModel
from torch import Tensor, nn

from motionvla.flow import flow_to_motion_image_float, motion_targets  # noqa: F401 -- motion_targets re-exported
from motionvla.flow_forecast.flow_matching import PREDICTIONS, euler_sample, flow_matching_loss, velocity_from_sample


def moving_pixel_weight(x0: Tensor, num_frames: int, moving_weight: float) -> Tensor | None:
    """Loss weights ``1 + moving_weight · saturation`` per pixel of each motion image, or None for weight 0.

    ``x0``: stacked motion images ``(B, 3K, r, r)`` in the model's [-1, 1] (white = no motion); the HSV
    saturation at V = 1 is ``|flow| / scale``, clipped at 1. Objects are a few per cent of a frame, so a plain mean
    is dominated by "nothing moves"; this shifts the balance towards what moves.
    """
    if moving_weight <= 0:
        return None
    b = x0.shape[0]
    images = (x0.reshape(b, num_frames, 3, *x0.shape[2:]) + 1) / 2
    saturation = 1 - images.amin(dim=2, keepdim=True)
    return (1 + moving_weight * saturation).expand(-1, -1, 3, -1, -1).reshape_as(x0).detach()


def image_condition(images: Tensor, resolution: int) -> Tensor:
    """Camera frame(s) ``(B, C, H, W)`` float in [0, 1] (C = 3 per frame) → ``(B, C, r, r)`` in [-1, 1].

    The conditioning the DiT's ``condition_channels`` expect: the frame at the motion resolution, so each
    motion pixel sits over the image pixel it belongs to.
    """
    if images.dim() != 4:
        raise ValueError(f"condition images must be (B, C, H, W), got {tuple(images.shape)}")
    x = images.float()
    if x.shape[-2:] != (resolution, resolution):
        down = x.shape[-1] >= resolution and x.shape[-2] >= resolution
        x = F.interpolate(x, size=(resolution, resolution), mode="area" if down else "bilinear")
    return x * 2 - 1


class MotionDiT(nn.Module):
    """PixArt-style DiT velocity model over stacked motion images, cross-attending to context features.

    Args:
        num_frames: K. resolution: r. context_dim: D of the conditioning hidden states.
        patch_size, num_layers, num_heads, head_dim: the DiT's shape.
        condition_channels: channels of an optional image condition ``(B, C, r, r)`` (e.g. 3 for the
            current frame, see :func:`image_condition`) concatenated to ``x_t``; 0 = none.
        data_channels: channels of the generated data; ``None`` = ``3·num_frames`` (the pixel codec).
        prediction: what the transformer outputs: ``"velocity"`` (``noise − x0``, the flow-matching default) or
            ``"sample"`` (``x0``; :meth:`forward` still returns the implied velocity, so samplers are unchanged).

    The PixArt transformer has ``in_channels = data_channels + condition_channels`` and
    ``out_channels = data_channels``.
    """

    def __init__(self, num_frames: int, resolution: int, context_dim: int, patch_size: int = 4,
                 num_layers: int = 2, num_heads: int = 2, head_dim: int = 32, condition_channels: int = 0,
                 data_channels: int | None = None, prediction: str = "velocity") -> None:
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        self.prediction = prediction
        if condition_channels < 0:
            raise ValueError(f"condition_channels must be >= 0, got {condition_channels}")
        if resolution % patch_size:
            raise ValueError(f"resolution ({resolution}) must be a multiple of patch_size ({patch_size})")
        self.num_frames = num_frames
        self.resolution = resolution
        self.data_channels = 3 * num_frames if data_channels is None else data_channels
        self.condition_channels = condition_channels
        self._config = dict(num_frames=num_frames, resolution=resolution, context_dim=context_dim,
                            patch_size=patch_size, num_layers=num_layers, num_heads=num_heads, head_dim=head_dim,
                            condition_channels=condition_channels, data_channels=self.data_channels)
        if prediction != "velocity":  # only when used, so saved dit_configs of velocity models read the same
            self._config["prediction"] = prediction
        self.dit = PixArtTransformer2DModel(
            num_attention_heads=num_heads,
            attention_head_dim=head_dim,
            in_channels=self.data_channels + condition_channels,
            out_channels=self.data_channels,
            num_layers=num_layers,
            cross_attention_dim=num_heads * head_dim,
            caption_channels=context_dim,
            sample_size=resolution,
            patch_size=patch_size,
            norm_num_groups=1,
            use_additional_conditions=False,
        )

    @property
    def dit_config(self) -> dict[str, Any]:
        """The constructor's arguments (shapes only): ``MotionDiT(**dit.dit_config)`` rebuilds the model."""
        return dict(self._config)

    @classmethod
    def from_dit_config(cls, config: dict[str, Any]) -> MotionDiT:
        """A new (randomly initialised) DiT of the shapes in ``config`` (a :attr:`dit_config`)."""
        return cls(**config)

    def _with_condition(self, x_t: Tensor, condition: Tensor | None) -> Tensor:
        """``x_t (B, data_channels, r, r)`` with ``condition (B, condition_channels, r, r)`` appended."""
        if self.condition_channels == 0:
            if condition is not None:
                raise ValueError("this MotionDiT has condition_channels=0: build it with condition_channels=C "
                                 "to condition on an image, or pass condition=None")
            return x_t
        want = (x_t.shape[0], self.condition_channels, *x_t.shape[-2:])
        if condition is None:
            raise ValueError(f"this MotionDiT needs condition={want} (condition_channels={self.condition_channels})")
        if tuple(condition.shape) != want:
            raise ValueError(f"condition must be (B, condition_channels, r, r) = {want}, got {tuple(condition.shape)}")
        return torch.cat([x_t, condition.to(x_t.dtype)], dim=1)

    def forward(self, x_t: Tensor, t: Tensor, context: Tensor, context_mask: Tensor,
                condition: Tensor | None = None, raw: bool = False) -> Tensor:
        """Velocity ``(B, data_channels, r, r)`` for noisy data ``x_t`` (same shape) at times ``t (B,)`` in [0, 1]; with
        ``raw=True`` the transformer's own output (a velocity or a clean sample, by ``prediction``), what the loss
        compares with its target. A sample prediction is turned into the velocity it implies, so samplers are
        unchanged.

        ``context (B, L, D)``, ``context_mask (B, L)`` bool (True = valid); ``condition``
        ``(B, condition_channels, r, r)``, required iff ``condition_channels > 0``. The DiT's timestep
        embedding expects the 0..1000 range (diffusers' timesteps), so t is scaled by 1000.
        """
        out = self.dit(
            self._with_condition(x_t, condition),
            encoder_hidden_states=context,
            timestep=t * 1000.0,
            added_cond_kwargs={"resolution": None, "aspect_ratio": None},
            encoder_attention_mask=context_mask.long(),
            return_dict=False,
        )[0]
        if raw or self.prediction == "velocity":
            return out
        return velocity_from_sample(x_t, out, t)
    def loss(self, target_images: Tensor, context: Tensor, context_mask: Tensor, frame_valid: Tensor | None = None,
             condition: Tensor | None = None) -> Tensor:
        """Flow-matching MSE on ``target_images (B, data_channels, r, r)`` in [0, 1] (modelled in [-1, 1]); a scalar.

        ``frame_valid``: optional ``(B, K)`` bool; invalid frames (past an episode's end) are left out
        (each frame owns ``data_channels / K`` consecutive channels). ``condition``: as in :meth:`forward`.
        """
        return self.data_loss(target_images * 2 - 1, context, context_mask, frame_valid, condition)

    def data_loss(self, x0: Tensor, context: Tensor, context_mask: Tensor, frame_valid: Tensor | None = None,
                  condition: Tensor | None = None, weight: Tensor | None = None,
                  one_step_fraction: float = 0.0) -> Tensor:
        """:meth:`loss` on data already in the model's space (pixels in [-1, 1], or a VAE's scaled latents).

        ``weight``: optional per-element weights broadcastable to ``x0`` (a weighted mean of the squared error).
        ``one_step_fraction``: share of the batch trained at t = 1 (see ``flow_matching.sample_time``).
        """
        self._with_condition(x0[:, :0], condition)  # fail before any work if condition is wrong
        valid = None
        if frame_valid is not None:
            if self.data_channels % frame_valid.shape[1]:
                raise ValueError(f"frame_valid has {frame_valid.shape[1]} frames; data_channels={self.data_channels}")
            per_frame = self.data_channels // frame_valid.shape[1]
            valid = frame_valid.bool().repeat_interleave(per_frame, dim=1)[:, :, None, None]  # (B, C, 1, 1)
        if weight is not None:
            valid = weight if valid is None else weight * valid
        return flow_matching_loss(lambda x, t: self(x, t, context, context_mask, condition, raw=True), x0, valid,
                                  one_step_fraction, self.prediction)

    @torch.no_grad()
    def sample(self, context: Tensor, context_mask: Tensor, num_steps: int = 10,
               generator: torch.Generator | None = None, condition: Tensor | None = None) -> Tensor:
        """Generate ``(B, data_channels, r, r)`` in [0, 1] from noise with ``num_steps`` Euler steps.

        ``context (B, L, D)``, ``context_mask (B, L)``; ``generator`` draws the starting noise;
        ``condition``: as in :meth:`forward`.
        """
        return ((self.sample_data(context, context_mask, num_steps, generator, condition) + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def sample_data(self, context: Tensor, context_mask: Tensor, num_steps: int = 10,
                    generator: torch.Generator | None = None, condition: Tensor | None = None) -> Tensor:
        """:meth:`sample` in the model's own space (no mapping to [0, 1], no clamping)."""
        b, r = context.shape[0], self.resolution
        noise = torch.randn(b, self.data_channels, r, r, generator=generator, device=context.device,
                            dtype=context.dtype)
        self._with_condition(noise, condition)
        return euler_sample(lambda x, t: self(x, t, context, context_mask, condition), noise, num_steps)

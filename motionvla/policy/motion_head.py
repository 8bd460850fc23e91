"""Motion head: a diffusers DiT generating the K future motion images by flow matching.

Reusable by a standalone flow forecaster: it only needs conditioning hidden states ``(B, L, D)`` and a
mask. In the tiny setting it works directly in motion-image pixel space (no VAE): the K images are stacked
as channels, ``(B, 3K, r, r)``, scaled to [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import PixArtTransformer2DModel
from torch import Tensor, nn

from motionvla.flow import flow_to_motion_image_float
from motionvla.policy.flow_matching import euler_sample, flow_matching_loss


def motion_targets(flow: Tensor, resolution: int, max_magnitude: float) -> Tensor:
    """Future flow → stacked motion images in [0, 1].

    Args:
        flow: ``(B, K, 2, H, W)`` float, pixels at the input resolution, x then y.
        resolution: r, the motion resolution; vectors are rescaled with the image (x by r/W, y by r/H).
        max_magnitude: the codec's fixed scale in pixels *at resolution r*.

    Returns:
        ``(B, 3K, r, r)`` float32 in [0, 1].
    """
    if flow.dim() != 5 or flow.shape[2] != 2:
        raise ValueError(f"motion flow must be (B, K, 2, H, W), got {tuple(flow.shape)}")
    b, k, _, h, w = flow.shape
    x = flow.float().reshape(b * k, 2, h, w)
    if (h, w) != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="area" if h >= resolution else "bilinear")
        scale = torch.tensor([resolution / w, resolution / h], device=x.device, dtype=x.dtype).view(1, 2, 1, 1)
        x = x * scale
    img = flow_to_motion_image_float(x, max_magnitude)  # (B·K, 3, r, r)
    return img.reshape(b, 3 * k, resolution, resolution)


class MotionHead(nn.Module):
    """PixArt-style DiT velocity model over stacked motion images, cross-attending to context features.

    Args:
        num_frames: K. resolution: r. context_dim: D of the conditioning hidden states.
        patch_size, num_layers, num_heads, head_dim: the DiT's shape.
    """

    def __init__(self, num_frames: int, resolution: int, context_dim: int, patch_size: int = 4,
                 num_layers: int = 2, num_heads: int = 2, head_dim: int = 32) -> None:
        super().__init__()
        self.channels = 3 * num_frames
        self.resolution = resolution
        self.dit = PixArtTransformer2DModel(
            num_attention_heads=num_heads,
            attention_head_dim=head_dim,
            in_channels=self.channels,
            out_channels=self.channels,
            num_layers=num_layers,
            cross_attention_dim=num_heads * head_dim,
            caption_channels=context_dim,
            sample_size=resolution,
            patch_size=patch_size,
            norm_num_groups=1,
            use_additional_conditions=False,
        )

    def forward(self, x_t: Tensor, t: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        """Velocity ``(B, 3K, r, r)`` for noisy images ``x_t (B, 3K, r, r)`` at times ``t (B,)`` in [0, 1].

        ``context (B, L, D)``, ``context_mask (B, L)`` bool (True = valid). The DiT's timestep
        embedding expects the 0..1000 range, so t is scaled by 1000.
        """
        out = self.dit(
            x_t,
            encoder_hidden_states=context,
            timestep=t * 1000.0,
            added_cond_kwargs={"resolution": None, "aspect_ratio": None},
            encoder_attention_mask=context_mask.long(),
            return_dict=False,
        )[0]
        return out

    def loss(self, target_images: Tensor, context: Tensor, context_mask: Tensor, frame_valid: Tensor | None = None) -> Tensor:
        """Flow-matching MSE on ``target_images (B, 3K, r, r)`` in [0, 1] (modelled in [-1, 1]); a scalar.

        ``frame_valid``: optional ``(B, K)`` bool; invalid frames (past an episode's end) are left out.
        """
        x0 = target_images * 2 - 1
        valid = None
        if frame_valid is not None:
            valid = frame_valid.bool().repeat_interleave(3, dim=1)[:, :, None, None]  # (B, 3K, 1, 1)
        return flow_matching_loss(lambda x, t: self(x, t, context, context_mask), x0, valid)

    @torch.no_grad()
    def sample(self, context: Tensor, context_mask: Tensor, num_steps: int = 10, generator: torch.Generator | None = None) -> Tensor:
        """Generate motion images ``(B, 3K, r, r)`` in [0, 1] from noise with ``num_steps`` Euler steps."""
        b = context.shape[0]
        noise = torch.randn(b, self.channels, self.resolution, self.resolution, generator=generator,
                            device=context.device, dtype=context.dtype)
        x0 = euler_sample(lambda x, t: self(x, t, context, context_mask), noise, num_steps)
        return ((x0 + 1) / 2).clamp(0, 1)

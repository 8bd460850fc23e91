"""``MotionHead``: the training-only motion DiT that every dual-head policy composes.

It is the forecaster's :class:`~motionvla.flow_forecast.motion_dit.MotionDiT` (same weights layout, so a trained
forecaster can seed it) plus what a policy needs around it: the targets made from the batch's future flow with the
codec scale, the optional image condition (frames of the motion camera, the observed flow, grounding maps) taken
from the batch, the loss weighting and time distribution of :class:`MotionHeadConfig`. A policy gives it its
backbone's hidden states; nothing here knows which backbone produced them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from motionvla.keys import MOTION_KEY, MOTION_MASK_KEY, MOTION_PAST_KEY
from motionvla.flow_forecast.grounding import GroundingMaps
from motionvla.flow_forecast.motion_dit import MotionDiT, image_condition, motion_targets, moving_pixel_weight
from motionvla.policy.motion_head.config import MotionHeadConfig


class MotionHead(MotionDiT):
    """Motion DiT over ``(B, 3K, r, r)`` motion images cross-attending to ``context (B, L, D)``.

    Args:
        cfg: the policy config (its :class:`MotionHeadConfig` fields).
        context_dim: D, the width of the backbone's hidden states.
        camera: the batch key of the motion camera (frames for the image condition).

    State-dict keys are ``MotionDiT``'s (``dit.*``), plus ``grounding.*`` with grounding maps and
    ``feature_proj.*`` with feature channels.
    """

    def __init__(self, cfg: MotionHeadConfig, context_dim: int, camera: str) -> None:
        super().__init__(context_dim=context_dim, **cfg.motion_dit_kwargs())
        self.cfg = cfg
        self.camera = camera
        self.grounding = (GroundingMaps(cfg.image_condition_channels, context_dim, cfg.motion_grounding_maps)
                          if cfg.motion_grounding_maps else None)
        self.feature_proj = (nn.Conv2d(context_dim, cfg.feature_channels(), kernel_size=1)
                             if cfg.feature_channels() else None)

    @property
    def scale(self) -> float:
        m = self.cfg.flow_max_magnitude
        if m <= 0:
            raise ValueError("flow_max_magnitude is 0 (measure from data): set it, or train with `motionvla train` or "
                             "`lerobot-train`, which measure it from the dataset's flows")
        return m

    def targets(self, batch: dict) -> Tensor:
        """``batch["motion"] (B, K, 2, H, W)`` pixels -> motion images ``(B, 3K, r, r)`` in [0, 1]."""
        return motion_targets(batch[MOTION_KEY].to(self.device_of_weights), self.cfg.motion_resolution, self.scale)

    @property
    def device_of_weights(self) -> torch.device:
        return next(self.parameters()).device

    def condition(self, batch: dict, context: Tensor, mask: Tensor, feature_map: Tensor | None = None) -> Tensor | None:
        """The image condition ``(B, C, r, r)`` laid under x_t, or None when the head reads only the backbone's
        features through cross-attention. Frames first, then observed flows, then grounding maps (the forecaster's
        order), then the projected ``feature_map (B, D, g, g)`` (the motion camera's image tokens on their grid)."""
        cfg, r = self.cfg, self.cfg.motion_resolution
        parts = self._image_parts(batch, context) if cfg.image_condition_channels else []
        if parts and self.grounding is not None:
            image = torch.cat(parts, dim=1)
            parts.append(self.grounding(image, context, mask).to(image.dtype))
        if self.feature_proj is not None:
            if feature_map is None:
                raise ValueError(f"this motion head reads the backbone's image-token grid (motion_feature_channels="
                                 f"{cfg.feature_channels()}): pass feature_map (B, D, g, g)")
            if cfg.motion_feature_detach:
                feature_map = feature_map.detach()
            up = F.interpolate(feature_map.float(), size=(r, r), mode="bilinear", align_corners=False)
            parts.append(self.feature_proj(up))
        return torch.cat(parts, dim=1) if parts else None

    def _image_parts(self, batch: dict, context: Tensor) -> list[Tensor]:
        cfg, r = self.cfg, self.cfg.motion_resolution
        parts = []
        if cfg.motion_condition_frames:
            frame = batch[self.camera].to(context.device, torch.float32)
            parts.append(image_condition(frame, r).repeat(1, cfg.motion_condition_frames, 1, 1))
        if cfg.motion_past_flows:
            if MOTION_PAST_KEY not in batch:
                raise ValueError(f"this motion head reads the observed flow (motion_past_flows="
                                 f"{cfg.motion_past_flows}): the batch needs {MOTION_PAST_KEY!r} (B, 1, 2, H, W) pixels")
            past = motion_targets(batch[MOTION_PAST_KEY].to(context.device).float(), r, self.scale) * 2 - 1
            parts.append(past.repeat(1, cfg.motion_past_flows, 1, 1))
        return parts

    def batch_loss(self, context: Tensor, mask: Tensor, batch: dict, feature_map: Tensor | None = None) -> Tensor:
        """Flow-matching loss (a scalar) of the batch's future motion given ``context (B, L, D)``, ``mask (B, L)``.

        ``batch``: ``motion (B, K, 2, H, W)`` pixels; optional ``motion_mask (B, K)`` (flows past an episode's end
        are left out); the motion camera's frame and ``motion_past`` when the head reads them. ``feature_map``: as in
        :meth:`condition`.
        """
        x0 = self.targets(batch).to(context.device) * 2 - 1
        frame_valid = batch.get(MOTION_MASK_KEY)
        if frame_valid is not None:
            frame_valid = frame_valid.to(context.device)
        return self.data_loss(x0, context, mask, frame_valid, self.condition(batch, context, mask, feature_map),
                              weight=moving_pixel_weight(x0, self.cfg.motion_frames, self.cfg.motion_moving_weight), one_step_fraction=self.cfg.motion_one_step_fraction)

    @torch.no_grad()
    def batch_sample(self, context: Tensor, mask: Tensor, batch: dict, num_steps: int | None = None,
                     generator: torch.Generator | None = None, feature_map: Tensor | None = None) -> Tensor:
        """The head's forecast: motion images ``(B, K, 3, r, r)`` in [0, 1] (``num_steps`` Euler steps, default
        ``motion_sample_steps``)."""
        steps = num_steps or self.cfg.motion_sample_steps
        condition = self.condition(batch, context, mask, feature_map)
        images = self.sample(context, mask, steps, generator=generator, condition=condition)
        b, _, r, _ = images.shape
        return images.reshape(b, self.cfg.motion_frames, 3, r, r)

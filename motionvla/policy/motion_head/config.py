"""``MotionHeadConfig``: the motion head's options, one section shared by every dual-head policy config.

Both ``MotionVLAConfig`` (type ``motionvla``) and ``PI05MotionConfig`` (type ``pi05_motion``) inherit these
fields, so the options keep the flat names users type (``--policy.motion_weight``, ``--policy.flow_stride``,
...) and checkpoints written before the section existed load unchanged; a policy type only overrides defaults
(π0.5's head is PixArt-sized). The checks, the frames the dataset must load (``observation_delta_indices``),
which camera the flow comes from and the DiT's shapes are all decided here, once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motionvla.keys import IMAGE_KEY_PREFIX

EMPTY_CAMERA_MARK = ".empty_camera_"  # π0.5's padded cameras (``empty_cameras``) carry no pixels to take flow from


# What a config.json written before these options existed meant by their absence (the head it trained). A policy
# type whose defaults differ from these restores them on load (restore_legacy_motion_options), so an old
# checkpoint rebuilds the head it was trained with.
LEGACY_MOTION_OPTIONS = {"motion_prediction": "velocity", "motion_feature_channels": 0,
                         "motion_one_step_fraction": 0.0, "motion_sample_steps": 10, "motion_past_flows": 0,
                         "motion_grounding_maps": 0, "motion_moving_weight": 0.0, "motion_camera": ""}


def restore_legacy_motion_options(config: Any, config_file: Path) -> list[str]:
    """Set the motion options that ``config_file`` (the checkpoint's config.json) does not name to their
    :data:`LEGACY_MOTION_OPTIONS` values; returns the names set. A file that cannot be read changes nothing."""
    try:
        written = json.loads(Path(config_file).read_text())
    except (OSError, ValueError):
        return []
    restored = [k for k in LEGACY_MOTION_OPTIONS if k not in written and hasattr(config, k)]
    for key in restored:
        setattr(config, key, LEGACY_MOTION_OPTIONS[key])
    return restored


@dataclass
class MotionHeadConfig:
    """The motion head: a DiT generating ``motion_frames`` future motion images ``(B, 3K, r, r)`` (r =
    ``motion_resolution``) by flow matching, from the backbone's hidden states. Training only."""

    # Weight of the motion loss; 0 builds no motion head (the action-only baseline).
    motion_weight: float = 1.0
    # K future flows per sample: flow i of frame t runs from frame t + i*flow_stride to t + (i+1)*flow_stride,
    # estimated with motionvla.flow's `flow_method` on `motion_camera`.
    motion_frames: int = 4
    motion_resolution: int = 16
    flow_stride: int = 2
    flow_method: str = "dis"
    # The camera whose future flow is forecast; "" = the policy's first camera.
    motion_camera: str = ""
    # The motion-image codec's scale M (pixels at motion_resolution; |flow| >= M is fully saturated).
    # 0 = measure it: training sets M to the flow_scale_percentile-th percentile of the training flows'
    # magnitudes (motionvla.flow.flow_scale), so moving parts use the codec's range whatever the camera and fps.
    flow_max_magnitude: float = 0.0
    flow_scale_percentile: float = 99.5
    # The DiT. A patch must not hold more values (patch² · 3K) than the DiT is wide (heads · head_dim), or the
    # noise it has to carry through cannot fit (checked below).
    motion_patch_size: int = 2
    motion_layers: int = 1
    motion_heads: int = 2
    motion_head_dim: int = 32
    # What the head reads besides the backbone's features (the paper: features only). Frames of the motion
    # camera laid under x_t (the current frame, repeated: a forecaster-initialised head was trained on
    # frames_in frames); the observed flow (frame t - flow_stride -> t, repeated motion_past_flows times);
    # caption-grounding maps (flow_forecast.grounding) over those. A head that reads pixels may solve its task
    # without shaping the backbone: docs/policy.md measures it.
    motion_condition_frames: int = 0
    motion_past_flows: int = 0
    motion_grounding_maps: int = 0
    # Backbone features placed where they belong: the motion camera's image tokens, as the backbone outputs them,
    # laid out on their grid, upsampled to r and projected to this many channels under x_t (0 = off). Still
    # backbone features only (no pixels), but each motion pixel sits over the tokens of its image region, so the
    # head need not learn through cross-attention where each token is. Needs a backbone that exposes its image
    # grid (the tiny one). -1 = the policy type's choice (feature_channels()).
    motion_feature_channels: int = 0
    # Give the head the grid's features without letting its loss reach the backbone through them (the backbone is
    # then shaped through cross-attention only, as with no grid): position for the head, no short-cut into the
    # image tokens.
    motion_feature_detach: bool = False
    # Training: the share of batches trained at t = 1 (pure noise), the only time a 1-step sampler queries the
    # model (the forecaster's lesson: it makes the 1-step sample the conditional mean, not speckle), and extra
    # loss weight on moving pixels (1 + motion_moving_weight · saturation).
    motion_one_step_fraction: float = 0.0
    motion_moving_weight: float = 0.0
    # What the DiT outputs: "velocity" (noise - x0, as the forecaster and the paper) or "sample" (x0; its loss is
    # the velocity loss weighted by t²). A small head cannot copy its noisy input through its layers exactly,
    # which a velocity must do; the miss shows as speckle (docs/policy.md measures both).
    motion_prediction: str = "velocity"
    # Euler steps when the head's forecast is drawn (reports, predict_motion); acting never runs the head.
    motion_sample_steps: int = 10
    # Start the head from a trained flow forecaster (a `motionvla forecast train` run or saved forecaster): its
    # DiT's (and grounding maps') weights and the shapes they imply.
    motion_head_from: str = ""

    def validate_motion_head(self) -> None:
        """Each check raises ``ValueError`` naming the option and what it must be."""
        if self.motion_weight < 0:
            raise ValueError(f"motion_weight must be >= 0 (0 = no motion head, the action-only baseline), "
                             f"got {self.motion_weight}")
        if self.motion_frames < 1 or self.flow_stride < 1:
            raise ValueError(f"motion_frames and flow_stride must be >= 1, got {self.motion_frames} and {self.flow_stride}")
        if self.flow_max_magnitude < 0 or not 0 < self.flow_scale_percentile <= 100:
            raise ValueError(f"need flow_max_magnitude >= 0 (0 = measure from the dataset) and 0 < flow_scale_percentile"
                             f" <= 100, got {self.flow_max_magnitude} and {self.flow_scale_percentile}")
        if self.motion_feature_channels < -1:
            raise ValueError(f"motion_feature_channels must be >= 0, or -1 (the policy type's choice), got "
                             f"{self.motion_feature_channels}")
        for name in ("motion_condition_frames", "motion_past_flows", "motion_grounding_maps", "motion_moving_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.motion_one_step_fraction <= 1.0:
            raise ValueError(f"motion_one_step_fraction must be in [0, 1], got {self.motion_one_step_fraction}")
        if self.motion_prediction not in ("velocity", "sample"):
            raise ValueError(f"motion_prediction must be 'velocity' or 'sample', got {self.motion_prediction!r}")
        if self.motion_sample_steps < 1:
            raise ValueError(f"motion_sample_steps must be >= 1, got {self.motion_sample_steps}")
        if self.motion_grounding_maps and not self.image_condition_channels:
            raise ValueError("motion_grounding_maps needs an image condition to ground in: set "
                             "motion_condition_frames >= 1 or motion_past_flows >= 1")
        if self.motion_camera and not self.motion_camera.startswith(IMAGE_KEY_PREFIX):
            raise ValueError(f"motion_camera must be an image feature key ({IMAGE_KEY_PREFIX}<cam>) or '' (the first "
                             f"camera), got {self.motion_camera!r}")
        r, p = self.motion_resolution, self.motion_patch_size
        if r % p:
            raise ValueError(f"motion_resolution ({r}) must be a multiple of motion_patch_size ({p})")
        patch_values, width = p**2 * 3 * self.motion_frames, self.motion_heads * self.motion_head_dim
        if patch_values > width:
            raise ValueError(f"a {p}x{p} motion patch of {self.motion_frames} motion images holds {patch_values} "
                             f"values but the motion DiT is only {width} wide (motion_heads x motion_head_dim): use a "
                             f"smaller motion_patch_size or a wider DiT")

    def feature_channels(self) -> int:
        """``motion_feature_channels`` resolved: a policy type with a choice for -1 overrides this (here: 0)."""
        return max(self.motion_feature_channels, 0)

    @property
    def has_motion_head(self) -> bool:
        return self.motion_weight > 0

    @property
    def image_condition_channels(self) -> int:
        """Channels of the frames and observed flows laid under the DiT's input (before grounding maps)."""
        return 3 * (self.motion_condition_frames + self.motion_past_flows)

    def motion_delta_indices(self) -> list[int] | None:
        """Frames lerobot's dataset loads per observation key for the head's targets: the current frame and the
        K future frames (0, s, ..., K·s), plus frame -s when the head reads the observed flow. None without a
        head (acting never loads a dataset)."""
        if not self.has_motion_head:
            return None
        past = [-self.flow_stride] if self.motion_past_flows else []
        return past + [i * self.flow_stride for i in range(self.motion_frames + 1)]

    def flow_camera_among(self, cameras: list[str]) -> str:
        """The image key the flow targets come from: ``motion_camera``, or the first real camera of ``cameras``.

        Raises:
            ValueError: no camera is known yet (lerobot fills ``input_features`` from the dataset).
        """
        if self.motion_camera:
            return self.motion_camera
        real = [k for k in cameras if EMPTY_CAMERA_MARK not in k]
        if not real:
            raise ValueError("no image feature to take the motion targets' flow from: set motion_camera or "
                             "input_features (the trainers fill them from the dataset)")
        return real[0]

    def motion_dit_kwargs(self) -> dict[str, Any]:
        """The DiT's shape options (``MotionDiT`` keyword arguments, without ``context_dim``)."""
        return dict(num_frames=self.motion_frames, resolution=self.motion_resolution,
                    patch_size=self.motion_patch_size, num_layers=self.motion_layers, num_heads=self.motion_heads,
                    head_dim=self.motion_head_dim,
                    condition_channels=(self.image_condition_channels + self.motion_grounding_maps
                                        + self.feature_channels()),
                    prediction=self.motion_prediction)

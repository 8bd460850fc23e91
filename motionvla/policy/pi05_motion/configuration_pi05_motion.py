"""``PI05MotionConfig``: lerobot's π0.5 configuration plus the training-only motion head (type ``pi05_motion``).

Everything π0.5 has (PaliGemma variant, chunking, flow-matching schedule, optimizer and scheduler presets,
normalization) is :class:`lerobot.policies.pi05.PI05Config`'s, unchanged. The fields added here shape the
motion head (a :class:`motionvla.flow_forecast.motion_dit.MotionDiT` over ``(B, 3K, r, r)`` motion images)
and the future-flow targets it is trained on, as in :class:`motionvla.policy.MotionVLAConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lerobot.configs import PreTrainedConfig
from lerobot.policies.pi05.configuration_pi05 import PI05Config

from motionvla.datasets.features import IMAGE_KEY_PREFIX
from motionvla.flow_forecast.motion_dit import check_motion_head_options

EMPTY_CAMERA_MARK = ".empty_camera_"  # π0.5's padded cameras (``empty_cameras``) carry no pixels to take flow from


@PreTrainedConfig.register_subclass("pi05_motion")
@dataclass
class PI05MotionConfig(PI05Config):
    """π0.5 + motion head. Motion flow ``(B, motion_frames, 2, H, W)`` in pixels (x then y) becomes motion
    images ``(B, 3 * motion_frames, motion_resolution, motion_resolution)`` in [0, 1] with the codec scale
    ``flow_max_magnitude``; the DiT cross-attends to PaliGemma's prefix hidden states ``(B, L_prefix, 2048)``.
    """

    # Weight of the motion flow-matching loss; 0 builds no motion head (the plain π0.5 baseline).
    motion_weight: float = 1.0
    # K future flows per sample, estimated from frames t, t+s, ..., t+K*s of `motion_camera`.
    motion_frames: int = 4
    motion_resolution: int = 64
    flow_stride: int = 2
    flow_method: str = "dis"
    # The codec's scale M (pixels at motion_resolution). 0 = measure: when lerobot's make_policy builds the
    # policy for a dataset, M becomes the flow_scale_percentile-th percentile of its flows' magnitudes.
    flow_max_magnitude: float = 0.0
    flow_scale_percentile: float = 99.5
    # The camera whose future flow is forecast; "" = the first image feature (LIBERO: the agentview).
    motion_camera: str = ""
    # A PixArt-sized DiT (~265 M parameters at these sizes, the qwen2.5-vl-3b preset's motion head).
    # A patch must not hold more values (patch² · 3K) than the DiT is wide (heads · head_dim), or the
    # noise it has to carry cannot fit (docs/policy.md, "Patch vs width"): checked below.
    motion_patch_size: int = 4
    motion_layers: int = 12
    motion_heads: int = 16
    motion_head_dim: int = 72

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.motion_weight < 0:
            raise ValueError(f"motion_weight must be >= 0 (0 = the plain π0.5 baseline), got {self.motion_weight}")
        check_motion_head_options(frames=self.motion_frames, resolution=self.motion_resolution,
                                  patch_size=self.motion_patch_size, heads=self.motion_heads,
                                  head_dim=self.motion_head_dim, flow_stride=self.flow_stride,
                                  flow_max_magnitude=self.flow_max_magnitude,
                                  flow_scale_percentile=self.flow_scale_percentile)
        if self.motion_camera and not self.motion_camera.startswith(IMAGE_KEY_PREFIX):
            raise ValueError(f"motion_camera must be an image feature key ({IMAGE_KEY_PREFIX}<cam>) or '' (the first "
                             f"one), got {self.motion_camera!r}")

    def flow_camera(self) -> str:
        """The image key the flow targets come from: ``motion_camera``, or the first real image feature.

        Raises:
            ValueError: no image feature is known yet (lerobot fills ``input_features`` from the dataset).
        """
        if self.motion_camera:
            return self.motion_camera
        cameras = [k for k in self.image_features if EMPTY_CAMERA_MARK not in k]
        if not cameras:
            raise ValueError("pi05_motion: no image feature to take the motion targets' flow from: set "
                             "motion_camera or input_features (lerobot-train fills them from the dataset)")
        return cameras[0]

    @property
    def observation_delta_indices(self) -> list[int] | None:
        """With a motion head, lerobot's dataset loads frames t, t+s, ..., t+K*s of every observation key;
        the pre-processor's ``motionvla_flow_targets`` step turns them into ``motion`` and keeps frame t
        (π0.5 sees single frames). Without one, π0.5's single frame (None)."""
        if self.motion_weight <= 0:
            return None
        return [i * self.flow_stride for i in range(self.motion_frames + 1)]

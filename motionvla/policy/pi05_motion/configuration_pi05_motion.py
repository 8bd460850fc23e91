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

from motionvla.policy.motion_head.config import EMPTY_CAMERA_MARK, MotionHeadConfig

__all__ = ["EMPTY_CAMERA_MARK", "PI05MotionConfig"]


@PreTrainedConfig.register_subclass("pi05_motion")
@dataclass
class PI05MotionConfig(PI05Config, MotionHeadConfig):
    """π0.5 + motion head. Motion flow ``(B, motion_frames, 2, H, W)`` in pixels (x then y) becomes motion
    images ``(B, 3 * motion_frames, motion_resolution, motion_resolution)`` in [0, 1] with the codec scale
    ``flow_max_magnitude``; the DiT cross-attends to PaliGemma's prefix hidden states ``(B, L_prefix, 2048)``.
    """

    # The motion head's options are MotionHeadConfig's; π0.5's head is PixArt-sized (~265 M parameters, the
    # qwen2.5-vl-3b preset's motion head) over 64x64 motion images: only these defaults differ.
    motion_resolution: int = 64
    motion_patch_size: int = 4
    motion_layers: int = 12
    motion_heads: int = 16
    motion_head_dim: int = 72

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate_motion_head()
        if self.feature_channels():
            raise ValueError("pi05_motion: motion_feature_channels needs the backbone's image-token grid, which this "
                             "policy does not lay out yet; set motion_feature_channels=0")

    def flow_camera(self) -> str:
        """The image key the flow targets come from: ``motion_camera``, or the first real image feature.

        Raises:
            ValueError: no image feature is known yet (lerobot fills ``input_features`` from the dataset).
        """
        return self.flow_camera_among(list(self.image_features))

    @property
    def observation_delta_indices(self) -> list[int] | None:
        """With a motion head, lerobot's dataset loads frames t, t+s, ..., t+K*s of every observation key
        (:meth:`MotionHeadConfig.motion_delta_indices`); the pre-processor's ``motionvla_flow_targets`` step turns
        them into ``motion`` and keeps frame t (π0.5 sees single frames). Without one, π0.5's single frame (None)."""
        return self.motion_delta_indices()

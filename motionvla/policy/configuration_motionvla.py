"""``MotionVLAConfig``: the dual-head (action + motion) VLA policy's configuration.

Registered with lerobot's policy registry as ``motionvla`` (so ``--policy.type=motionvla`` picks it) and
serialized by lerobot/draccus to ``config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from lerobot.configs import FeatureType, NormalizationMode, PreTrainedConfig
from lerobot.optim import AdamWConfig

from motionvla.keys import IMAGE_KEY_PREFIX as IMAGE_PREFIX
from motionvla.keys import STATE_KEY
from motionvla.moe import DISPATCHERS
from motionvla.policy.motion_head.config import MotionHeadConfig
from motionvla.utils.lr_schedule import SCHEDULES, WarmupCosineSchedulerConfig

TINY_BACKBONE = "tiny"
TINY_FEATURE_CHANNELS = 8  # motion_feature_channels' default with the tiny backbone


@dataclass
class MoEConfig:
    """Mixture-of-experts settings for the backbone's feed-forward blocks.

    ``num_experts == 0`` keeps the backbone dense; otherwise each gated MLP is upcycled into
    ``num_experts`` copies routed top-``top_k`` with the ``dispatcher`` (``local`` | ``ep`` | ``llep``).
    """

    num_experts: int = 0
    top_k: int = 2
    dispatcher: str = "local"
    # LLEP planner (REFERENCE §3): spill only above this max/mean load ratio, and only for experts with
    # at least min_tokens rows; alpha is the per-device capacity factor.
    imbalance_threshold: float = 1.3
    min_tokens: int = 1024
    alpha: float = 1.0


@PreTrainedConfig.register_subclass("motionvla")
@dataclass
class MotionVLAConfig(PreTrainedConfig, MotionHeadConfig):
    """Configuration of :class:`~motionvla.policy.modeling_motionvla.MotionVLAPolicy`.

    Shapes: images ``(B, 3, image_size, image_size)`` per key in ``image_keys``; state ``(B, state_dim)``;
    action chunk ``(B, chunk_size, action_dim)``; motion flow ``(B, motion_frames, 2, H, W)`` in pixels,
    turned into motion images ``(B, 3 * motion_frames, motion_resolution, motion_resolution)``.
    """

    # Inputs / outputs. ``motionvla train`` fills these (and input/output_features) from the dataset.
    image_keys: list[str] = field(default_factory=lambda: ["observation.images.front"])
    image_size: int = 224
    state_dim: int = 8
    action_dim: int = 7
    max_text_tokens: int = 16
    # Tiny backbone only: "word" (hashed word ids) or "char" (one token per character); see motionvla.vlm.tokenizers.
    tokenizer: str = "word"

    # Action chunking and flow matching (openpi conventions, REFERENCE §2).
    chunk_size: int = 10
    n_action_steps: int = 10
    num_inference_steps: int = 10
    # Scale of the starting noise when acting (sampling temperature): 1 samples the learned distribution,
    # 0 integrates from its centre, which gives the steadiest actions for a small, briefly trained model.
    inference_noise_scale: float = 1.0
    # Training-time random shift of every camera image by up to this many pixels (DrQ / diffusion policy's random
    # crops; motionvla.policy.augment), the motion targets moving with the motion camera. 0 = off.
    image_shift_px: int = 0
    # lerobot's option, off by default here (lerobot's default is on): uploading needs --policy.repo_id and a login.
    push_to_hub: bool = False

    # The motion head (auxiliary, training only): the fields of MotionHeadConfig (the tiny DiT: 2x2 patches of 3K
    # channels, 48 values, inside a 64-wide transformer, over 16x16 motion images). These five differ from its
    # defaults: the recipe with which the tiny head forecasts motion on held-out tabletop episodes (0.50-0.53x
    # "nothing moves" on moving pixels, 0.69-0.72x on all, seeds 0-2; the head before it: 0.85x and 1.21x) and the
    # policy's success over seeds 0-2 (49.2 / 39.2 / 76.7 %) is not below the previous recipe's (69.2 / 50.8 /
    # 38.3 %); at weight 1 the head's direct path into the image tokens cost 40 points (docs/experiments/motion_head.md).
    motion_weight: float = 0.1
    motion_prediction: str = "sample"
    motion_one_step_fraction: float = 0.5
    # -1 = 8 with the tiny backbone (which exposes its image-token grid), 0 with any other (feature_channels()).
    motion_feature_channels: int = -1
    motion_sample_steps: int = 1

    # Backbone: "tiny" (built in-process from config) or a hub id such as "Qwen/Qwen2.5-VL-3B-Instruct".
    backbone: str = TINY_BACKBONE
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    image_token_grid: int = 8
    moe: MoEConfig = field(default_factory=MoEConfig)

    # Action expert.
    action_hidden_size: int = 64
    action_layers: int = 2
    action_heads: int = 4

    # lerobot's processor normalizes state/action with the dataset's mean/std; images stay in [0, 1].
    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            FeatureType.VISUAL.value: NormalizationMode.IDENTITY,
            FeatureType.STATE.value: NormalizationMode.MEAN_STD,
            FeatureType.ACTION.value: NormalizationMode.MEAN_STD,
        }
    )

    # Training presets (lerobot's convention): `motionvla train` and `lerobot-train` both build AdamW and the
    # schedule from these (motionvla.utils.lr_schedule), so one command line gives one schedule under either.
    optimizer_lr: float = 1e-4
    optimizer_betas: tuple[float, float] = (0.9, 0.999)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 1e-2
    optimizer_grad_clip_norm: float = 1.0
    scheduler_warmup_steps: int = 0  # linear warm-up from lr / warmup to lr
    scheduler_schedule: str = "cosine"  # "cosine" (to lr * scheduler_min_lr_ratio at the last step) or "constant"
    scheduler_min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scheduler_schedule not in SCHEDULES:
            raise ValueError(f"scheduler_schedule must be one of {', '.join(SCHEDULES)}, got {self.scheduler_schedule!r}")
        if self.scheduler_warmup_steps < 0 or self.optimizer_lr <= 0:
            raise ValueError(f"need scheduler_warmup_steps >= 0 and optimizer_lr > 0, got "
                             f"{self.scheduler_warmup_steps} and {self.optimizer_lr}")
        self.optimizer_betas = tuple(float(b) for b in self.optimizer_betas)  # type: ignore[assignment]
        if self.n_action_steps > self.chunk_size:
            raise ValueError(f"n_action_steps ({self.n_action_steps}) must be <= chunk_size ({self.chunk_size})")
        if self.moe.dispatcher not in DISPATCHERS:
            raise ValueError(f"moe.dispatcher must be one of {sorted(DISPATCHERS)}, got {self.moe.dispatcher!r}")
        if self.moe.num_experts < 0 or (self.moe.num_experts > 0 and not 1 <= self.moe.top_k <= self.moe.num_experts):
            raise ValueError(f"moe: need num_experts >= 0 and 1 <= top_k <= num_experts, got {self.moe}")
        if self.tokenizer not in ("word", "char"):
            raise ValueError(f"tokenizer must be 'word' or 'char', got {self.tokenizer!r}")
        if not 0 <= self.image_shift_px < max(1, self.image_size // 2):
            raise ValueError(f"image_shift_px must be in [0, image_size/2) = [0, {self.image_size // 2}), "
                             f"got {self.image_shift_px}")
        self.validate_motion_head()
        if self.backbone != TINY_BACKBONE and self.feature_channels() and self.motion_weight > 0:
            raise ValueError(f"motion_feature_channels={self.motion_feature_channels} lays the backbone's image-token "
                             f"grid under the motion head, which only the tiny backbone exposes; with backbone="
                             f"{self.backbone!r} set --policy.motion_feature_channels=0")
        self.validate_features()

    def sync_with_features(self) -> None:
        """Take state/action sizes, cameras and image size from lerobot's ``input_features`` /
        ``output_features`` when they are filled in (``lerobot-train`` fills them from the dataset after
        the config is built, so the policy calls this when it is constructed)."""
        inputs, outputs = self.input_features or {}, self.output_features or {}
        if STATE_KEY in inputs:
            self.state_dim = int(inputs[STATE_KEY].shape[-1])
        if "action" in outputs:
            self.action_dim = int(outputs["action"].shape[-1])
        cameras = [k for k, f in inputs.items() if f.type is FeatureType.VISUAL]
        if cameras:
            self.image_keys = [k for k in self.image_keys if k in cameras] or cameras
            self.image_size = int(inputs[self.image_keys[0]].shape[-1])  # (C, H, W)

    # lerobot's abstract interface ---------------------------------------------------------------
    def validate_features(self) -> None:
        """Check the image keys follow LeRobot's ``observation.images.<cam>`` convention."""
        if not self.image_keys:
            raise ValueError("image_keys must name at least one camera, e.g. ['observation.images.front']")
        bad = [k for k in self.image_keys if not k.startswith(IMAGE_PREFIX)]
        if bad:
            raise ValueError(f"image_keys must start with {IMAGE_PREFIX!r}, got {bad}")

    @property
    def observation_delta_indices(self) -> list[int] | None:
        """Frames lerobot's dataset loads per observation key (:meth:`MotionHeadConfig.motion_delta_indices`);
        the pre-processor's flow-target step turns them into ``motion`` and keeps frame 0 as the observation.
        ``motionvla train`` ignores this (it reads flows from its cache), and acting never loads a dataset."""
        return self.motion_delta_indices()

    def feature_channels(self) -> int:
        """``motion_feature_channels`` resolved (-1: 8 with the tiny backbone, 0 with any other)."""
        if self.motion_feature_channels == -1:
            return TINY_FEATURE_CHANNELS if self.backbone == TINY_BACKBONE else 0
        return self.motion_feature_channels

    def flow_camera(self) -> str:
        """The image key the motion head's flow comes from (``motion_camera`` or the first camera)."""
        return self.flow_camera_among(list(self.image_keys))

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))

    @property
    def reward_delta_indices(self) -> None:
        return None

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(lr=self.optimizer_lr, betas=tuple(self.optimizer_betas), eps=self.optimizer_eps,
                           weight_decay=self.optimizer_weight_decay, grad_clip_norm=self.optimizer_grad_clip_norm)

    def get_scheduler_preset(self) -> WarmupCosineSchedulerConfig:
        return WarmupCosineSchedulerConfig(num_warmup_steps=self.scheduler_warmup_steps,
                                           schedule=self.scheduler_schedule, min_lr_ratio=self.scheduler_min_lr_ratio)

    # openpi-style fake inputs --------------------------------------------------------------------
    def fake_batch(self, batch_size: int = 2, seed: int = 0, with_targets: bool = True) -> dict:
        """Random inputs of the right shapes (a training batch, or an observation if ``with_targets=False``).

        Returns a dict with ``observation.images.<cam>`` float ``(B, 3, image_size, image_size)`` in [0, 1],
        ``observation.state`` ``(B, state_dim)``, ``task`` list[str]; with targets also ``action``
        ``(B, chunk_size, action_dim)`` and ``motion`` ``(B, motion_frames, 2, image_size, image_size)`` pixels.
        """
        g = torch.Generator().manual_seed(seed)
        s = self.image_size
        batch: dict = {k: torch.rand(batch_size, 3, s, s, generator=g) for k in self.image_keys}
        batch[STATE_KEY] = torch.randn(batch_size, self.state_dim, generator=g)
        tasks = ["push the red block to the left", "pick up the cup", "open the drawer"]
        batch["task"] = [tasks[i % len(tasks)] for i in range(batch_size)]
        if with_targets:
            batch["action"] = torch.randn(batch_size, self.chunk_size, self.action_dim, generator=g)
            flow = torch.randn(batch_size, self.motion_frames, 2, s, s, generator=g) * ((self.flow_max_magnitude or 1.0) / 3)
            batch["motion"] = flow
        return batch

"""``MotionVLAPolicy``: one VLM backbone, an action head (flow matching) and a training-only motion head.

LeRobot policy API: ``forward(batch) -> (loss, info)``, ``predict_action_chunk(obs) -> (B, chunk, A)``,
``select_action(obs) -> (B, A)`` with an action queue, ``reset()``. The motion head shapes the backbone
during training and is never called when acting, so acting costs what an action-only policy costs.
Inputs arrive normalized: lerobot's processor pipeline (``processor_motionvla``) normalizes state and
actions with the dataset's statistics and unnormalizes predicted actions; its files live in the checkpoint.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import deque
from pathlib import Path
from typing import Any

import torch
from lerobot.policies.pretrained import PreTrainedPolicy
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor
from transformers import PretrainedConfig

from motionvla.keys import STATE_KEY
from motionvla.keys import MOTION_KEY, MOTION_MASK_KEY
from motionvla.errors import CheckpointError, UserError
from motionvla.policy.action_head import ActionExpert
from motionvla.policy.augment import random_shift_batch
from motionvla.policy.backbone import build_backbone
from motionvla.policy.configuration_motionvla import MotionVLAConfig
from motionvla.policy.motion_head.flow_step import STEP_NAME
from motionvla.policy.motion_head import MotionHead
from motionvla.policy.motion_head.config import restore_legacy_motion_options
from motionvla.policy.realtime_chunking import prefix_weights

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def experts_in_this_process(config: MotionVLAConfig, source: str | Path) -> MotionVLAConfig:
    """``config`` with ``moe.dispatcher="local"`` when it names ``ep``/``llep`` and no process group exists.

    Expert parallelism is how a launch spread the experts over its processes, not part of the model: the saved
    weights hold every expert (the trainer gathers them, ``motionvla.moe.full_state_dict``), and the local
    dispatcher computes the same layer in one process. Without this, a policy trained with ``torchrun`` and
    ``dispatcher=llep`` could not be evaluated or served on one machine."""
    if not config.moe.num_experts or config.moe.dispatcher == "local" or torch.distributed.is_initialized():
        return config
    print(f"{source}: trained with --policy.moe.dispatcher={config.moe.dispatcher}; every expert is loaded into this "
          "process (dispatcher=local)", file=sys.stderr)
    return dataclasses.replace(config, moe=dataclasses.replace(config.moe, dispatcher="local"))


class MotionVLAPolicy(PreTrainedPolicy):
    """Dual-head motion-aware VLA policy (see module docstring). Build with a :class:`MotionVLAConfig`."""

    config_class = MotionVLAConfig
    name = "motionvla"

    def __init__(self, config: MotionVLAConfig, backbone_config: PretrainedConfig | None = None,
                 dataset_meta: Any | None = None, **kwargs) -> None:
        """``backbone_config``: for a real VLM backbone, build it from this transformers config with random
        weights instead of loading ``config.backbone`` (sizing, e.g. under ``torch.device("meta")``).
        ``dataset_meta``: what lerobot's ``make_policy`` passes when it builds the policy for a dataset
        (``lerobot-train``): its features are checked and, if needed, the motion codec's scale measured."""
        super().__init__(config)
        config.sync_with_features()
        if dataset_meta is not None:
            from motionvla.policy.from_dataset import adapt_to_dataset

            adapt_to_dataset(config, dataset_meta)
        self.config: MotionVLAConfig = config
        self.backbone = build_backbone(config, backbone_config)
        d = self.backbone.hidden_size
        self.action_head = ActionExpert(
            config.action_dim, config.chunk_size, d, config.action_hidden_size, config.action_layers, config.action_heads
        )
        # The action-only baseline (motion_weight == 0) carries no motion head at all.
        self.motion_head: MotionHead | None = None
        if config.has_motion_head:
            self.motion_head = MotionHead(config, d, config.flow_camera())
        self._action_queue: deque[Tensor] = deque(maxlen=config.n_action_steps)

    # ------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def get_optim_params(self) -> dict:
        return self.parameters()

    def reset(self) -> None:
        """Clear the action queue (call at the start of each episode); picks up a changed
        ``config.n_action_steps`` (how many actions of each chunk are executed before replanning)."""
        if not 1 <= self.config.n_action_steps <= self.config.chunk_size:
            raise ValueError(f"n_action_steps must be in 1..chunk_size ({self.config.chunk_size}), got {self.config.n_action_steps}")
        self._action_queue = deque(maxlen=self.config.n_action_steps)

    def encode(self, batch: dict) -> tuple[Tensor, Tensor]:
        """Backbone features for a batch/observation → ``(hidden (B, L, D), mask (B, L) bool)``."""
        missing = [k for k in [*self.config.image_keys, STATE_KEY, "task"] if k not in batch]
        if missing:
            raise KeyError(f"batch lacks {missing}; expected {self.config.image_keys} + observation.state + task")
        dev = self.device
        images = [batch[k].to(dev, torch.float32) for k in self.config.image_keys]
        state = batch[STATE_KEY].to(dev, torch.float32)
        tasks = batch["task"]
        if isinstance(tasks, str):
            tasks = [tasks] * state.shape[0]
        return self.backbone.encode(images, list(tasks), state)

    def forward(self, batch: dict) -> tuple[Tensor, dict]:
        """Training loss ``action_loss + motion_weight · motion_loss`` (scalar) and logged values.

        With ``config.motion_weight > 0`` the batch must hold ``motion`` (B, K, 2, H, W) future flow in pixels
        (a clear error otherwise: never a silent action-only run). Optional masks (LeRobot / flow-cache
        conventions): ``action_is_pad (B, chunk)`` drops padded chunk steps, ``motion_mask (B, K)`` drops
        future flows past an episode's end.
        """
        if self.config.motion_weight > 0 and self.motion_head is not None and MOTION_KEY not in batch:
            raise UserError(
                f"the training batch lacks {MOTION_KEY!r} (future flow (B, K, 2, H, W)) and {MOTION_MASK_KEY!r} while "
                f"motion_weight={self.config.motion_weight} > 0: train with `motionvla train` (cached flow targets) "
                f"or with this policy's pre-processor, whose {STEP_NAME} step makes them from the future frames "
                f"that observation_delta_indices loads; or set motion_weight=0 for the action-only baseline"
            )
        if self.training and self.config.image_shift_px:
            batch = random_shift_batch(batch, list(self.config.image_keys), self.config.flow_camera(),
                                       self.config.image_shift_px)
        features, mask = self.encode(batch)
        actions = batch["action"].to(features.device, torch.float32)
        is_pad = batch.get("action_is_pad")
        action_loss = self.action_head.loss(actions, features, mask, None if is_pad is None else is_pad.to(features.device))
        loss = action_loss
        motion_loss = torch.zeros((), device=features.device)
        if self.config.motion_weight > 0 and self.motion_head is not None:
            motion_loss = self.motion_head.batch_loss(features, mask, batch, self._feature_map(features))
            loss = loss + self.config.motion_weight * motion_loss
        info = {"action_loss": action_loss.item(), "motion_loss": motion_loss.item(), "loss": loss.item()}
        return loss, info

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict, noise: Tensor | None = None, *, prefix_actions: Tensor | None = None,
                             delay: int = 0, **kwargs) -> Tensor:
        """Action chunk ``(B, chunk_size, action_dim)`` by ``num_inference_steps`` Euler steps (backbone + action head only).

        ``noise``: optional ``(B, chunk_size, action_dim)`` starting point (default: ``torch.randn`` times
        ``config.inference_noise_scale``). ``prefix_actions (B, P, action_dim)`` (normalized like the policy's
        actions): real-time chunking onto the previous chunk's remaining actions, the first ``delay`` kept
        exactly, the rest of the P followed with RTC's decaying weights (motionvla.policy.realtime_chunking).
        """
        features, mask = self.encode(batch)
        b = features.shape[0]
        if noise is None:
            noise = torch.randn(b, self.config.chunk_size, self.config.action_dim, device=features.device)
            noise = noise * self.config.inference_noise_scale
        weights = None
        if prefix_actions is not None:
            weights = prefix_weights(self.config.chunk_size, delay, prefix_actions.shape[1], features.device)
        return self.action_head.sample(features, mask, noise.to(features.device), self.config.num_inference_steps,
                                       prefix=prefix_actions, prefix_weights=weights, delay=delay)

    @torch.no_grad()
    def sample_action_chunks(self, batch: dict, num_samples: int, noise_scale: float = 1.0) -> tuple[Tensor, Tensor]:
        """The chunk :meth:`predict_action_chunk` would return and ``num_samples`` more draws, from **one** backbone
        pass (the features repeated through the action head in one batch): ``(chunk (B, T, A), samples (B, S, T,
        A))``, normalized like the policy's actions. The chunk starts from the checkpoint's own noise
        (``inference_noise_scale``); the samples from Gaussian noise times ``noise_scale`` (1 = the distribution
        flow matching was trained from), so their spread shows how wide the learned action distribution is."""
        features, mask = self.encode(batch)
        b, s = features.shape[0], num_samples
        shape = (self.config.chunk_size, self.config.action_dim)
        noise = [torch.randn(b, *shape, device=features.device) * self.config.inference_noise_scale]
        if s:
            noise.append(torch.randn(b * s, *shape, device=features.device) * noise_scale)
            features = torch.cat([features, features.repeat_interleave(s, dim=0)])
            mask = torch.cat([mask, mask.repeat_interleave(s, dim=0)])
        chunks = self.action_head.sample(features, mask, torch.cat(noise), self.config.num_inference_steps)
        return chunks[:b], chunks[b:].reshape(b, s, *shape)

    @torch.no_grad()
    def predict_motion(self, batch: dict, num_steps: int | None = None,
                       generator: torch.Generator | None = None) -> Tensor:
        """The motion head's forecast for inspection (reports): motion images ``(B, K, 3, r, r)`` in [0, 1]
        (``num_steps`` Euler steps, default ``config.motion_sample_steps``). Acting never calls this. Raises if
        the policy has no motion head."""
        if self.motion_head is None:
            raise ValueError("this policy was trained action-only (motion_weight=0): it has no motion head")
        features, mask = self.encode(batch)
        return self.motion_head.batch_sample(features, mask, batch, num_steps, generator, self._feature_map(features))

    def _feature_map(self, features: Tensor) -> Tensor | None:
        """The motion camera's image tokens on their grid ``(B, D, g, g)``, when the motion head reads them."""
        if not self.config.feature_channels():
            return None
        if not hasattr(self.backbone, "image_grid"):
            raise ValueError(f"motion_feature_channels needs a backbone that exposes its image-token grid (the tiny "
                             f"one); {self.config.backbone} does not: set motion_feature_channels=0")
        return self.backbone.image_grid(features, self.config.image_keys.index(self.config.flow_camera()))

    @torch.no_grad()
    def select_action(self, batch: dict, **kwargs) -> Tensor:
        """Next action ``(B, action_dim)``; a new chunk is predicted every ``n_action_steps`` calls."""
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch, **kwargs)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))  # n_action_steps × (B, A)
        return self._action_queue.popleft()

    # checkpoints ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_name_or_path: str | Path, *, config: MotionVLAConfig | None = None, **kwargs):
        """Load ``config.json`` + ``model.safetensors`` strictly: any missing, extra, mis-shaped or unreadable
        tensor raises :class:`CheckpointError` before a single weight is copied. Hub ids go through lerobot."""
        path = Path(pretrained_name_or_path)
        if path.is_dir():
            need = [WEIGHTS_FILE] + ([] if config is not None else [CONFIG_FILE])
            absent = [f for f in need if not (path / f).is_file()]
            if absent:
                raise CheckpointError(f"{path}: checkpoint lacks {absent}; expected {CONFIG_FILE} + {WEIGHTS_FILE}")
            if config is None:
                try:
                    config = MotionVLAConfig.from_pretrained(path)
                except Exception as e:  # json / draccus errors: say which file
                    raise CheckpointError(f"{path / CONFIG_FILE}: unreadable policy config ({e})") from e
            # A checkpoint written before the motion head's newer options: the head it was trained with.
            restore_legacy_motion_options(config, path / CONFIG_FILE)
        if config is not None:
            config = experts_in_this_process(config, pretrained_name_or_path)
        kwargs.pop("strict", None)
        return super().from_pretrained(pretrained_name_or_path, config=config, strict=True, **kwargs)

    @classmethod
    def _load_as_safetensor(cls, model: MotionVLAPolicy, model_file: str, map_location: str, strict: bool) -> MotionVLAPolicy:
        try:
            state = load_file(model_file, device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{model_file}: not a readable safetensors file ({e})") from e
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        mismatched = [k for k in expected if k in state and state[k].shape != expected[k].shape]
        if missing or unexpected or mismatched:
            raise CheckpointError(
                f"{model_file} does not match the config: {len(missing)} missing (e.g. {missing[:3]}), "
                f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}), {len(mismatched)} mis-shaped (e.g. {mismatched[:3]})"
            )
        model.load_state_dict(state, strict=True)
        return model

"""``PI05MotionPolicy``: lerobot's π0.5 plus a training-only motion head on PaliGemma's prefix (type ``pi05_motion``).

The policy *is* a :class:`lerobot.policies.pi05.PI05Policy` (same modules, same state-dict keys under ``model.``,
same ``select_action`` / ``predict_action_chunk``, hence the same latency when acting) with one extra module,
``model.motion_head``: the forecaster's :class:`~motionvla.flow_forecast.motion_dit.MotionDiT`, which cross-attends to
the PaliGemma prefix hidden states (image + language tokens) of the *same* forward pass that computes the action
loss (:mod:`.prefix`). The training loss is ``action_loss + motion_weight · motion_loss``; the motion loss's
gradients reach PaliGemma, which is the point of the motion-image VLA (arXiv 2512.18007).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from lerobot.policies.pi05.modeling_pi05 import PI05Policy
from lerobot.utils.constants import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS
from torch import Tensor

from motionvla.keys import MOTION_KEY
from motionvla.errors import CheckpointError, UserError
from motionvla.policy.motion_head.flow_step import STEP_NAME
from motionvla.policy.motion_head import MotionHead
from motionvla.policy.pi05_motion.configuration_pi05_motion import PI05MotionConfig
from motionvla.policy.pi05_motion.prefix import PrefixCapture

# The head lives inside PI05's core module (``self.model``): lerobot's PI05 loader prefixes every key that does not
# start with "model." with it, so a head beside ``self.model`` could never be loaded back.
MOTION_PREFIX = "model.motion_head."


@dataclass
class LoadReport:
    """What the last ``load_state_dict`` did: whether the motion head came from the file, and any error."""

    motion_head_loaded: bool
    error: str | None = None


class PI05MotionPolicy(PI05Policy):
    """π0.5 + motion head. Build with a :class:`PI05MotionConfig`.

    Training batches are lerobot's π0.5 batches (images ``(B, 3, H, W)`` in [0, 1], language tokens and mask
    ``(B, L_lang)``, normalized ``action (B, chunk, A)``) plus ``motion (B, K, 2, H', W')`` future flow in pixels
    and optionally ``motion_mask (B, K)`` bool, both made by the pre-processor's flow-target step.
    """

    config_class = PI05MotionConfig
    name = "pi05_motion"

    def __init__(self, config: PI05MotionConfig, dataset_meta: Any | None = None, **kwargs: Any) -> None:
        """``dataset_meta``: what lerobot's ``make_policy`` passes when building for a dataset (lerobot-train);
        with a motion head and ``flow_max_magnitude`` 0 the codec scale is measured from its flows."""
        if not isinstance(config, PI05MotionConfig):
            raise TypeError(f"PI05MotionPolicy needs a PI05MotionConfig, got {type(config).__name__}: load π0.5 "
                            "weights with PI05MotionPolicy.from_pretrained(path, config=PI05MotionConfig(...))")
        super().__init__(config, **kwargs)
        self.config: PI05MotionConfig = config
        paligemma = self.model.paligemma_with_expert.paligemma
        self._prefix = PrefixCapture(paligemma)
        self._load_report: LoadReport | None = None
        self._img_masks: list[Tensor] | None = None
        # The plain π0.5 baseline (motion_weight == 0) carries no motion head: its weights and loss are PI05's.
        self.model.motion_head = None
        if config.motion_weight > 0:
            if dataset_meta is not None and config.flow_max_magnitude <= 0:
                from motionvla.policy.pi05_motion.flow_scale import measure_flow_scale

                measure_flow_scale(config, dataset_meta)
            # The frame condition needs the flow camera, known once lerobot has filled the image features.
            camera = config.flow_camera() if config.motion_condition_frames else ""
            self.model.motion_head = MotionHead(config, paligemma.config.text_config.hidden_size, camera).to(config.device)

    @property
    def motion_head(self) -> MotionHead | None:
        """The motion DiT (state-dict keys ``model.motion_head.*``), or None for ``motion_weight=0``."""
        return self.model.motion_head

    # training ---------------------------------------------------------------------------------------
    def _preprocess_images(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        # PI05's own preprocessing; its camera masks (one (B,) bool per image, missing cameras False) are
        # kept because they are part of the prefix mask the motion head needs.
        images, img_masks = super()._preprocess_images(batch)
        self._img_masks = img_masks
        return images, img_masks

    def _motion_flow(self, batch: dict[str, Any]) -> Tensor:
        """``batch["motion"]`` checked against the config, before any model work: ``(B, K, 2, H, W)``."""
        if MOTION_KEY not in batch:
            raise UserError(
                f"the training batch lacks {MOTION_KEY!r} (future flow (B, K, 2, H, W)) while motion_weight="
                f"{self.config.motion_weight} > 0: train with this policy's pre-processor, whose {STEP_NAME} step makes "
                "it from the future frames observation_delta_indices loads (fine-tuning from a π0.5 checkpoint: start "
                "from a folder written by `python -m motionvla.policy.pi05_motion.init_from_pi05`, whose pre-processor "
                "has the step), or set motion_weight=0 for the plain π0.5 baseline")
        _ = self.motion_head.scale  # an unset codec scale (0 = measure from data) fails before any model work
        flow = batch[MOTION_KEY]
        b = batch[OBS_LANGUAGE_TOKENS].shape[0]
        if not isinstance(flow, Tensor) or flow.dim() != 5 or tuple(flow.shape[:3]) != (b, self.config.motion_frames, 2):
            got = tuple(flow.shape) if isinstance(flow, Tensor) else type(flow).__name__
            raise ValueError(f"batch[{MOTION_KEY!r}] must be future flow (B={b}, motion_frames={self.config.motion_frames}"
                             f", 2, H, W) in pixels, got {got}")
        return flow

    def compute_losses(self, batch: dict[str, Tensor], reduction: str = "mean") -> tuple[Tensor, Tensor, dict]:
        """``(action_loss, motion_loss, info)`` from one π0.5 forward pass: PI05's action loss (scalar, or ``(B,)``
        for ``reduction="none"``), the motion head's flow-matching loss (a scalar, batch mean) on the prefix hidden
        states of that same pass, and PI05's logged values. Requires a motion head."""
        if self.motion_head is None:
            raise ValueError("this pi05_motion policy has motion_weight=0: it has no motion head")
        flow = self._motion_flow(batch)
        self._img_masks = None
        with self._prefix.capturing() as outputs:
            action_loss, info = super().forward(batch, reduction)
        prefix = self._prefix.one(outputs)
        if self._img_masks is None:
            raise RuntimeError("pi05_motion: lerobot's PI05Policy.forward no longer calls _preprocess_images, whose "
                               "camera masks the motion head's context mask needs")
        mask = self._prefix.mask(self._img_masks, batch[OBS_LANGUAGE_ATTENTION_MASK].to(prefix.device), prefix.shape[1])
        # The DiT runs in float32 whatever PaliGemma's dtype (bfloat16 training keeps its head in float32).
        motion_loss = self.motion_head.batch_loss(prefix.float(), mask, {**batch, MOTION_KEY: flow})
        return action_loss, motion_loss, info

    def forward(self, batch: dict[str, Tensor], reduction: str = "mean") -> tuple[Tensor, dict]:
        """π0.5's loss plus ``motion_weight`` × the motion head's flow-matching loss, and logged values
        (PI05's, plus ``action_loss`` and ``motion_loss``).

        ``reduction="none"`` returns ``(B,)``: π0.5's per-sample action loss plus the weighted batch-mean motion
        loss, so its mean is the "mean" loss. Without a motion head this is exactly ``PI05Policy.forward``.
        """
        if self.motion_head is None:
            return super().forward(batch, reduction)
        action_loss, motion_loss, info = self.compute_losses(batch, reduction)
        loss = action_loss + self.config.motion_weight * motion_loss
        info.update(action_loss=action_loss.mean().item(), motion_loss=motion_loss.item(), loss=loss.mean().item())
        return loss, info

    @torch.no_grad()
    def predict_motion(self, batch: dict[str, Tensor], num_steps: int | None = None,
                       generator: torch.Generator | None = None) -> Tensor:
        """The motion head's forecast for inspection: motion images ``(B, K, 3, r, r)`` in [0, 1] (decode with
        ``motionvla.flow`` and ``config.flow_max_magnitude``). Acting never calls this.

        The prefix comes from the prefix pass of PI05's own ``sample_actions`` (one Euler step of actions,
        discarded), so it is exactly what the action expert attends to.
        """
        if self.motion_head is None:
            raise ValueError("this pi05_motion policy has motion_weight=0: it has no motion head")
        self.eval()
        images, img_masks = self._preprocess_images(batch)
        tokens, lang_mask = batch[OBS_LANGUAGE_TOKENS], batch[OBS_LANGUAGE_ATTENTION_MASK]
        with self._prefix.capturing() as outputs:
            self.model.sample_actions(images, img_masks, tokens, lang_mask, num_steps=1)
        prefix = self._prefix.one(outputs).float()
        mask = self._prefix.mask(img_masks, lang_mask.to(prefix.device), prefix.shape[1])
        return self.motion_head.batch_sample(prefix, mask, batch, num_steps, generator)

    # checkpoints ------------------------------------------------------------------------------------
    def load_state_dict(self, state_dict: dict[str, Tensor], strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict`` that also accepts a plain π0.5 state dict (no ``model.motion_head.*``: the head
        keeps its fresh initialisation, logged). Anything else missing, unexpected, or a partial motion head is an
        error when ``strict``. The outcome is kept for :meth:`from_pretrained`, because lerobot's PI05 loader
        catches load errors and only prints them."""
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        own = self.state_dict()
        motion_keys = [k for k in own if k.startswith(MOTION_PREFIX)]
        missing_motion = [k for k in result.missing_keys if k.startswith(MOTION_PREFIX)]
        # safetensors writes a tied tensor once (e.g. a vocabulary head tied to its embedding): its other name is
        # "missing" but was loaded through the name that was written.
        loaded = {own[k].data_ptr() for k in state_dict if k in own}
        other_missing = [k for k in result.missing_keys
                         if not k.startswith(MOTION_PREFIX) and own[k].data_ptr() not in loaded]
        error = None
        if strict and (other_missing or result.unexpected_keys or 0 < len(missing_motion) < len(motion_keys)):
            error = (f"pi05_motion weights do not match the config: {len(other_missing)} missing (e.g. "
                     f"{other_missing[:3]}), {len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]}),"
                     f" {len(missing_motion)} of {len(motion_keys)} motion-head tensors missing")
        self._load_report = LoadReport(motion_head_loaded=bool(motion_keys) and not missing_motion, error=error)
        if error:
            raise RuntimeError(error)
        if missing_motion:
            logging.info("pi05_motion: the weights hold no motion head (a π0.5 checkpoint): it starts from scratch")
        return result

    @classmethod
    def from_pretrained(cls, pretrained_name_or_path: Any, *, config: PI05MotionConfig | None = None,
                        strict: bool = True, **kwargs: Any) -> PI05MotionPolicy:
        """lerobot's π0.5 loader (key fixes for openpi-converted checkpoints, hub ids), made strict: a checkpoint
        whose weights cannot be read or do not match raises :class:`CheckpointError` instead of returning a
        randomly initialised policy. A π0.5 checkpoint (``lerobot/pi05_base``) loads with
        ``config=PI05MotionConfig(...)``; its motion head starts from scratch."""
        if config is not None and not isinstance(config, PI05MotionConfig):
            raise CheckpointError(f"config must be a PI05MotionConfig, got {type(config).__name__}")
        if config is None:
            from lerobot.configs import PreTrainedConfig

            config = PreTrainedConfig.from_pretrained(pretrained_name_or_path)
            if not isinstance(config, PI05MotionConfig):
                raise CheckpointError(f"{pretrained_name_or_path} holds a {config.type!r} config: pass "
                                      "config=PI05MotionConfig(...) to load its weights into pi05_motion")
        policy = super().from_pretrained(pretrained_name_or_path, config=config, strict=strict, **kwargs)
        report = policy._load_report
        if report is None:
            raise CheckpointError(f"{pretrained_name_or_path}: no weights were loaded (no readable model.safetensors; "
                                  "lerobot's message above says why)")
        if report.error:
            raise CheckpointError(f"{pretrained_name_or_path}: {report.error}")
        return policy

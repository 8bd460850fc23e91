"""``FlowForecaster``: a vision-language encoder + the motion DiT, predicting future flow from frames and a caption.

Training: ``model(batch) -> (loss, info)`` (flow matching on the codec's data), the contract of
``motionvla.train.train``. Inference: :meth:`FlowForecaster.forecast`. Save/load with diffusers'
``save_pretrained`` / ``from_pretrained`` (``config.json`` + safetensors); see
:class:`~motionvla.flow_forecast.pipeline.FlowForecastPipeline` for the user-facing call.
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor

from motionvla.flow_forecast.codec import MotionCodec, resize_frames
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.flow_forecast.grounding import GroundingMaps
from motionvla.flow_forecast.motion_dit import MotionDiT, moving_pixel_weight
from motionvla.flow_forecast.vlm_encoder import build_encoder


def frames_to_float(frames: Tensor) -> Tensor:
    """uint8 ``(B, T, 3, H, W)`` -> float in [0, 1]; float input is passed through."""
    return frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()


class FlowForecaster(ModelMixin, ConfigMixin):
    """Frames ``(B, T_in, 3, H, W)`` + captions -> K future flows.

    Args:
        forecaster: the :class:`ForecasterConfig` fields as a dict (what ``config.json`` stores).
        model_config: build a real-size VLM from this transformers config without weights (meta sizing).
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, forecaster: dict | None = None) -> None:
        super().__init__()
        self.cfg = ForecasterConfig(**(forecaster or {}))
        self._build()

    def _build(self, model_config=None) -> None:
        cfg = self.cfg
        self.encoder = build_encoder(cfg, model_config)
        if not cfg.train_vlm:
            self.encoder.requires_grad_(False)
        self.codec = MotionCodec(cfg)
        self.dit = MotionDiT(cfg.num_frames, cfg.latent_resolution, self.encoder.hidden_size,
                             patch_size=cfg.patch_size, num_layers=cfg.dit_layers, num_heads=cfg.dit_heads,
                             head_dim=cfg.dit_head_dim, condition_channels=cfg.condition_channels,
                             data_channels=cfg.data_channels, prediction=cfg.prediction)
        self.grounding = (GroundingMaps(cfg.image_condition_channels, self.encoder.hidden_size, cfg.grounding_maps)
                          if cfg.grounding_maps else None)

    @classmethod
    def on_meta(cls, cfg: ForecasterConfig, model_config) -> FlowForecaster:
        """The whole model on the ``meta`` device (no memory, no download): for parameter counts."""
        with torch.device("meta"):
            model = cls.__new__(cls)
            ModelMixin.__init__(model)
            model.cfg = cfg
            model._build(model_config)
        return model

    def set_flow_scale(self, max_magnitude: float) -> None:
        """Fixes the codec scale (pixels at ``resolution``) and records it in the saved config."""
        self.cfg.flow_max_magnitude = float(max_magnitude)
        self.register_to_config(forecaster=self.cfg.to_dict())

    def _context(self, frames: Tensor, captions: list[str]) -> tuple[Tensor, Tensor]:
        images = resize_frames(frames, self.cfg.image_size)
        with torch.set_grad_enabled(self.cfg.train_vlm and torch.is_grad_enabled()):
            return self.encoder(images, list(captions))

    def _condition(self, frames: Tensor, past_flow: Tensor | None, context: Tensor, mask: Tensor) -> Tensor:
        """The DiT's image condition: the input frames, then (``past_flow_condition``) the observed flows, then
        (``grounding_maps``) the caption's grounding maps over both."""
        condition = self._image_condition(frames, past_flow)
        if self.grounding is None:
            return condition
        return torch.cat([condition, self.grounding(condition, context, mask).to(condition.dtype)], dim=1)

    def _image_condition(self, frames: Tensor, past_flow: Tensor | None) -> Tensor:
        condition = self.codec.encode_frames(frames)
        need = self.cfg.past_flows
        if not need:
            return condition
        if past_flow is None:
            raise ValueError(f"this forecaster is conditioned on the observed flow: give past_flow "
                             f"(B, {need}, 2, H, W), pixels, frame t-1 -> t")
        if past_flow.dim() != 5 or past_flow.shape[0] != frames.shape[0] or past_flow.shape[1:3] != (need, 2):
            raise ValueError(f"past_flow must be (B={frames.shape[0]}, {need}, 2, H, W), got {tuple(past_flow.shape)}")
        return torch.cat([condition, self.codec.encode_flow(past_flow.float())], dim=1)

    def _check_batch(self, frames: Tensor, captions: list[str]) -> None:
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be (B, T_in, 3, H, W), got {tuple(frames.shape)}")
        if frames.shape[1] != self.cfg.frames_in:
            raise ValueError(f"this forecaster reads frames_in={self.cfg.frames_in} frames, got {frames.shape[1]}")
        if len(captions) != frames.shape[0]:
            raise ValueError(f"{len(captions)} captions for {frames.shape[0]} frame stacks")

    def forward(self, batch: dict) -> tuple[Tensor, dict[str, float]]:
        """Flow-matching loss on ``batch``: ``frames`` ``(B, T_in, 3, H, W)`` (uint8 or [0, 1]), ``flow``
        ``(B, K, 2, H', W')`` pixels at H' x W', ``caption`` list of B strings; ``past_flow``
        ``(B, T_in - 1, 2, H', W')`` when the model is conditioned on it."""
        frames = frames_to_float(batch["frames"])
        captions = list(batch["caption"])
        self._check_batch(frames, captions)
        if batch["flow"].shape[1] != self.cfg.num_frames:
            raise ValueError(f"this forecaster predicts K={self.cfg.num_frames} flows, the batch has {batch['flow'].shape[1]}")
        context, mask = self._context(frames, captions)
        target = self.codec.encode_flow(batch["flow"].float())
        condition = self._condition(frames, batch.get("past_flow"), context, mask)
        loss = self.dit.data_loss(target, context, mask, condition=condition,
                                  weight=self._moving_weight(target), one_step_fraction=self.cfg.one_step_fraction)
        return loss, {"motion_loss": loss.detach()}

    def _moving_weight(self, target: Tensor) -> Tensor | None:
        """Extra loss weight on moving pixels (pixel codec only: a latent has no saturation to read)."""
        if self.cfg.codec != "pixel":
            return None
        return moving_pixel_weight(target, self.cfg.num_frames, self.cfg.moving_weight)

    @torch.no_grad()
    def forecast(self, frames: Tensor, captions: list[str], *, num_inference_steps: int | None = None,
                 num_samples: int = 1, generator: torch.Generator | None = None,
                 past_flow: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(flows (B, S, K, 2, r, r) float32 pixels at r, motion images (B, S, K, 3, r, r) float in [0, 1])``.

        One encoder pass per input; the S samples differ in the DiT's starting noise only. ``past_flow``
        ``(B, T_in - 1, 2, H, W)`` in pixels: required when the model is conditioned on the observed flow.
        """
        frames = frames_to_float(frames)
        self._check_batch(frames, captions)
        b, s = frames.shape[0], int(num_samples)
        context, mask = self._context(frames, captions)
        condition = self._condition(frames, past_flow, context, mask)
        rep = lambda x: x.repeat_interleave(s, dim=0)  # noqa: E731 -- (B, ...) -> (B·S, ...)
        data = self.dit.sample_data(rep(context), rep(mask), num_inference_steps or self.cfg.num_inference_steps,
                                    generator=generator, condition=rep(condition))
        flows, images = self.codec.decode(data)
        return flows.reshape(b, s, *flows.shape[1:]), images.reshape(b, s, *images.shape[1:])

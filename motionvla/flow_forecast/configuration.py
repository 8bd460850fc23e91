"""The forecaster's configuration: one dataclass, saved as the model's ``config.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from motionvla.errors import UserError

CODECS = ("pixel", "vae")
TINY_VLM = "tiny"


@dataclass
class ForecasterConfig:
    """Shapes of a :class:`~motionvla.flow_forecast.modeling.FlowForecaster`.

    The VLM reads ``frames_in`` frames and the caption; the DiT generates ``num_frames`` (K) future motion
    images at ``resolution`` (the motion images of :mod:`motionvla.flow`, scale ``flow_max_magnitude`` pixels
    at ``resolution``), conditioned on the VLM's hidden states and on the input frames (concatenated to its
    input: pixels for ``codec="pixel"``, VAE latents for ``codec="vae"``).
    """

    vlm: str = TINY_VLM  # "tiny" (built in-process) or a transformers VLM id / folder (from_pretrained)
    train_vlm: bool = True  # tiny: trained with the DiT (it has no pretrained weights); real VLMs: False
    frames_in: int = 2
    num_frames: int = 4
    resolution: int = 32
    image_size: int = 64  # what the VLM sees (input frames are resized to it)
    flow_max_magnitude: float = 0.0  # codec scale in pixels at `resolution`; 0 = measured from the training data
    codec: str = "pixel"  # "pixel" | "vae"
    # tiny VLM
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    image_token_grid: int = 8
    max_text_tokens: int = 24
    tokenizer: str = "word"
    # DiT
    patch_size: int = 2
    dit_layers: int = 2
    dit_heads: int = 2
    dit_head_dim: int = 32
    # VAE codec (diffusers AutoencoderKL built from these, or loaded from `vae_path`)
    vae_path: str = ""
    vae_latent_channels: int = 4
    vae_block_channels: tuple[int, ...] = (32, 64)
    num_inference_steps: int = 1  # as FOFPred releases it
    # Extra loss weight on moving pixels (pixel codec): weight = 1 + moving_weight * saturation of the target
    # motion image. Objects are a few per cent of a frame, so a plain mean is dominated by "nothing moves".
    moving_weight: float = 0.0
    # Also condition the DiT on the observed flow between the input frames (frames_in - 1 motion images,
    # through the same codec): what is already moving can be carried on; what the caption names can start.
    past_flow_condition: bool = False
    # Language-grounding maps (flow_forecast.grounding): this many caption-conditioned per-pixel maps join the
    # DiT's image condition, a direct path for binding "the green circle" to its pixels. 0 = off.
    grounding_maps: int = 0
    # Share of each training batch drawn at t = 1 (pure noise): the only time the default 1-step sampler
    # queries the model, which the Beta(1.5, 1) time draw alone visits rarely. 0 = the plain draw.
    one_step_fraction: float = 0.0
    # What the DiT outputs: "velocity" (noise - x0, flow matching's usual target) or "sample" (x0; the loss is the
    # velocity loss weighted by t²). With one sampling step from t = 1, a velocity model's sample is noise minus
    # its velocity, so any miss in copying the noise through its layers lands on the output as motion on still
    # pixels; a sample model outputs its estimate directly (docs/flow_forecast.md, run 10).
    prediction: str = "velocity"

    def __post_init__(self) -> None:
        self.vae_block_channels = tuple(int(c) for c in self.vae_block_channels)
        self.validate()

    def validate(self) -> None:
        if self.codec not in CODECS:
            raise UserError(f"model.codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        for name in ("frames_in", "num_frames", "resolution", "image_size", "patch_size", "dit_layers", "dit_heads",
                     "dit_head_dim", "num_inference_steps", "hidden_size", "num_layers", "max_text_tokens"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.moving_weight < 0:
            raise UserError(f"model.moving_weight must be >= 0, got {self.moving_weight}")
        if self.past_flow_condition and self.frames_in < 2:
            raise UserError("model.past_flow_condition needs model.frames_in >= 2 (one observed flow per pair of frames)")
        if self.grounding_maps < 0:
            raise UserError(f"model.grounding_maps must be >= 0 (0 = off), got {self.grounding_maps}")
        if not 0.0 <= self.one_step_fraction <= 1.0:
            raise UserError(f"model.one_step_fraction must be in [0, 1], got {self.one_step_fraction}")
        if self.prediction not in ("velocity", "sample"):
            raise UserError(f"model.prediction must be 'velocity' or 'sample', got {self.prediction!r}")
        if self.flow_max_magnitude < 0:
            raise UserError(f"model.flow_max_magnitude must be >= 0 (0 = from the data), got {self.flow_max_magnitude}")
        side = self.latent_resolution
        if side % self.patch_size:
            raise UserError(f"the DiT's input side {side} (codec {self.codec}) is not a multiple of "
                            f"model.patch_size={self.patch_size}")
        values, width = self.patch_size ** 2 * self.data_channels, self.dit_heads * self.dit_head_dim
        if values > 4 * width:
            raise UserError(f"a DiT patch carries {values} values through a {width}-wide transformer "
                            "(model.dit_heads x model.dit_head_dim): use a smaller patch_size or a wider DiT")

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae_block_channels) - 1) if self.codec == "vae" else 1

    @property
    def latent_resolution(self) -> int:
        return self.resolution // self.vae_factor

    @property
    def channels_per_image(self) -> int:
        return self.vae_latent_channels if self.codec == "vae" else 3

    @property
    def data_channels(self) -> int:
        return self.num_frames * self.channels_per_image

    @property
    def past_flows(self) -> int:
        """How many observed flows the DiT is conditioned on (0 without ``past_flow_condition``)."""
        return self.frames_in - 1 if self.past_flow_condition else 0

    @property
    def image_condition_channels(self) -> int:
        """Channels of the frames and observed flows laid under the DiT's input (before grounding maps)."""
        return (self.frames_in + self.past_flows) * self.channels_per_image

    @property
    def condition_channels(self) -> int:
        return self.image_condition_channels + self.grounding_maps

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["vae_block_channels"] = list(self.vae_block_channels)
        return data

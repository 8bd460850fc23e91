"""Start the policy's motion head from a trained flow forecaster (``--policy.motion_head_from=RUN``).

The forecaster's DiT *is* a motion head (:class:`~motionvla.flow_forecast.motion_dit.MotionDiT`): the policy
takes its shapes (K, resolution, patch, layers, width, image condition) and its weights, and its grounding maps
when it has them. Its image condition maps onto what the policy has at training time: the forecaster's input
frames become the motion camera's current frame (repeated), its observed flows the flow from frame t - s to t
(repeated), its grounding maps are computed over those from the backbone's hidden states. The DiT cross-attends
to hidden states of the forecaster's VLM width, so the policy's backbone must have that width. What the policy
does not take: the forecaster's VLM encoder (the policy's own backbone supplies the hidden states) and its codec
scale (the policy measures its own on its data).
"""

from __future__ import annotations

import dataclasses

import torch

from motionvla.errors import UserError
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.flow_forecast.modeling import FlowForecaster
from motionvla.flow_forecast.pipeline import FlowForecastPipeline
from motionvla.policy.configuration_motionvla import MotionVLAConfig


def _forecaster(path: str) -> FlowForecaster:
    """The saved forecaster (a finished run or a save_pretrained folder)."""
    try:
        return FlowForecastPipeline.from_pretrained(path).model
    except UserError as err:
        raise UserError(f"--policy.motion_head_from={path}: {err}") from None


def forecaster_config(path: str) -> ForecasterConfig:
    return _forecaster(path).cfg


def adopt_forecaster_shapes(config: MotionVLAConfig, path: str) -> MotionVLAConfig:
    """The policy config with the forecaster's motion-head shapes; a clear error when they cannot fit."""
    fc = forecaster_config(path)
    if fc.codec != "pixel":
        raise UserError(f"--policy.motion_head_from={path}: a {fc.codec}-codec forecaster cannot seed the policy's "
                        "motion head (it generates motion images in pixel space)")
    width = fc.hidden_size if fc.vlm == "tiny" else None
    if width is None or width != config.hidden_size or config.backbone != "tiny":
        raise UserError(f"--policy.motion_head_from={path}: the forecaster's DiT attends to {fc.vlm} features of width "
                        f"{width}, the policy's backbone ({config.backbone}) is {config.hidden_size} wide; "
                        "use matching widths (--policy.hidden_size) and backbones")
    return dataclasses.replace(
        config, motion_frames=fc.num_frames, motion_resolution=fc.resolution, motion_patch_size=fc.patch_size,
        motion_layers=fc.dit_layers, motion_heads=fc.dit_heads, motion_head_dim=fc.dit_head_dim,
        motion_condition_frames=fc.frames_in, motion_past_flows=fc.past_flows, motion_grounding_maps=fc.grounding_maps,
        motion_prediction=fc.prediction, motion_head_from=path)


NOT_TAKEN = ("the forecaster's VLM encoder (the policy's backbone supplies the hidden states) and its codec scale "
             "(the policy measures its own)")


def load_forecaster_dit(policy, path: str) -> int:
    """Copies the forecaster's DiT (and grounding-map) weights into ``policy.motion_head``; returns how many
    tensors were copied. Nothing else of the forecaster is taken (:data:`NOT_TAKEN`)."""
    if policy.motion_head is None:
        raise UserError("--policy.motion_head_from needs a motion head (motion_weight > 0)")
    forecaster = _forecaster(path)
    state = dict(forecaster.dit.state_dict())
    if forecaster.grounding is not None:
        state.update({f"grounding.{k}": v for k, v in forecaster.grounding.state_dict().items()})
    own = policy.motion_head.state_dict()
    state = _with_feature_channels(state, own, policy.config.feature_channels())
    mismatched = [f"{k}: forecaster {tuple(v.shape)} vs policy {tuple(own[k].shape)}"
                  for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = sorted(set(own) - set(state))
    if mismatched or missing:
        raise UserError(f"--policy.motion_head_from={path}: the DiTs differ ("
                        f"{'; '.join(mismatched[:3]) or 'missing ' + ', '.join(missing[:3])})")
    policy.motion_head.load_state_dict(state, strict=True)
    return len(state)


PATCH_EMBED = "dit.pos_embed.proj.weight"  # PixArt's patch embedding: (width, in_channels, p, p)


def _with_feature_channels(state: dict, own: dict, feature_channels: int) -> dict:
    """A head that also reads the backbone's image-token grid (``motion_feature_channels``, laid after the
    forecaster's condition channels) has that many more input channels than the forecaster's DiT: the forecaster's
    patch embedding is kept for its own channels, and the new ones start at zero (and their projection as built),
    so the seeded head computes exactly what the forecaster's DiT does until training uses them."""
    if not feature_channels:
        return state
    state = dict(state)
    theirs, mine = state[PATCH_EMBED], own[PATCH_EMBED]
    if mine.shape[1] != theirs.shape[1] + feature_channels or mine.shape[0] != theirs.shape[0]:
        return state  # a real mismatch: named by the caller
    widened = torch.zeros_like(mine)
    widened[:, : theirs.shape[1]] = theirs
    state[PATCH_EMBED] = widened
    state.update({k: v for k, v in own.items() if k.startswith("feature_proj.")})
    return state

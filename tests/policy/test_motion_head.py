"""The one motion head: it learns a scene's motion from the backbone's features (a real learning test), both
policies compose it, old checkpoints load, and its options are checked."""

from __future__ import annotations

import json

import pytest
import torch

from motionvla.flow import end_point_error, motion_image_float_to_flow
from motionvla.flow_forecast.motion_dit import motion_targets
from motionvla.policy import MotionVLAConfig, MotionVLAPolicy
from motionvla.policy.motion_head import MotionHead, MotionHeadConfig

RES, SCALE = 8, 2.0


def moving_square_batch(n: int = 8, size: int = 32, seed: int = 0) -> dict:
    """Black frames with one white 8x8 square at a random place; the square moves 6 px right per flow step (1.5 px
    at the 8x8 motion resolution), everything else stays: where motion is, only the image tells."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 3, size, size)
    flow = torch.zeros(n, 2, 2, size, size)
    for i in range(n):
        y, x = (int(v) for v in torch.randint(0, size - 8, (2,), generator=g))
        images[i, :, y : y + 8, x : x + 8] = 1.0
        flow[i, :, 0, y : y + 8, x : x + 8] = 6.0
    return {"observation.images.front": images, "observation.state": torch.zeros(n, 4),
            "task": ["push the square right"] * n, "action": torch.zeros(n, 4, 2), "motion": flow}


def fitted_error(policy: MotionVLAPolicy, batch: dict) -> tuple[float, float]:
    """(forecast, 'nothing moves') end-point error on all pixels of the decoded 1-step forecast."""
    policy.eval()
    pred = motion_image_float_to_flow(policy.predict_motion(batch, num_steps=1,
                                                            generator=torch.Generator().manual_seed(0)), SCALE)
    b, k = pred.shape[:2]
    true = motion_image_float_to_flow(motion_targets(batch["motion"], RES, SCALE).reshape(b, k, 3, RES, RES), SCALE)
    return end_point_error(pred, true), end_point_error(torch.zeros_like(true), true)


def test_the_head_learns_where_the_scene_moves_from_backbone_features_alone():
    """The recipe the quickstart uses: a clean-sample prediction and the image tokens on their grid. (With
    today's earlier head, a velocity output read through cross-attention only, the same 300 steps end at 2.7x
    "nothing moves": docs/experiments/motion_head.md.)"""
    torch.manual_seed(0)
    config = MotionVLAConfig(image_size=32, state_dim=4, action_dim=2, chunk_size=4, n_action_steps=4,
                             hidden_size=32, image_token_grid=4, motion_frames=2, motion_resolution=RES,
                             motion_patch_size=2, motion_layers=1, motion_heads=2, motion_head_dim=16,
                             flow_max_magnitude=SCALE, motion_one_step_fraction=0.5, motion_prediction="sample",
                             motion_feature_channels=8, motion_weight=1.0, device="cpu")
    # The head reads nothing but the backbone's features (no frame, no observed flow).
    assert config.motion_condition_frames == config.motion_past_flows == 0
    torch.set_num_threads(1)  # tensors this small run fastest on one thread (~20 s here)
    policy = MotionVLAPolicy(config)
    batch = moving_square_batch()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    for _ in range(300):
        loss, _ = policy(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model, zero = fitted_error(policy, batch)
    # A speckle predictor (noise decoded through the codec) is worse than "nothing moves"; the head must be far
    # better than that on the frames it fitted.
    speckle = end_point_error(motion_image_float_to_flow(torch.rand(8, 2, 3, RES, RES), SCALE),
                              motion_image_float_to_flow(motion_targets(batch["motion"], RES, SCALE)
                                                         .reshape(8, 2, 3, RES, RES), SCALE))
    assert speckle > zero
    assert model < 0.5 * zero, (model, zero)


def test_both_policies_compose_the_same_head_class():
    from motionvla.policy.pi05_motion.configuration_pi05_motion import PI05MotionConfig

    assert issubclass(MotionVLAConfig, MotionHeadConfig) and issubclass(PI05MotionConfig, MotionHeadConfig)
    policy = MotionVLAPolicy(MotionVLAConfig(image_size=32, hidden_size=32, image_token_grid=4, device="cpu"))
    assert type(policy.motion_head) is MotionHead


# config.json as `motionvla train` wrote it before the motion head had its own section (commit 13cd7d9).
OLD_CONFIG = {
    "type": "motionvla", "n_obs_steps": 1, "input_features": {}, "output_features": {}, "device": "cpu",
    "use_amp": False, "push_to_hub": False, "repo_id": None, "private": None, "tags": None, "license": None,
    "image_keys": ["observation.images.front"], "image_size": 32, "state_dim": 8, "action_dim": 7,
    "max_text_tokens": 16, "tokenizer": "word", "chunk_size": 10, "n_action_steps": 10, "num_inference_steps": 10,
    "inference_noise_scale": 1.0, "motion_frames": 4, "motion_resolution": 16, "flow_max_magnitude": 1.5,
    "flow_scale_percentile": 99.5, "flow_stride": 2, "flow_method": "dis", "motion_weight": 1.0,
    "motion_patch_size": 2, "motion_layers": 1, "motion_heads": 2, "motion_head_dim": 32,
    "motion_condition_frames": 0, "motion_head_from": "", "backbone": "tiny", "hidden_size": 32,
    "num_layers": 2, "num_heads": 4, "num_kv_heads": 2, "image_token_grid": 4,
    "moe": {"num_experts": 0, "top_k": 2, "dispatcher": "local", "imbalance_threshold": 1.3, "min_tokens": 1024,
            "alpha": 1.0},
    "action_hidden_size": 64, "action_layers": 2, "action_heads": 4,
    "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"},
    "optimizer_lr": 0.0001, "optimizer_weight_decay": 1e-10, "optimizer_grad_clip_norm": 1.0,
}


def test_a_checkpoint_written_before_the_head_had_its_section_loads(tmp_path):
    from safetensors.torch import save_file

    from motionvla.policy import MoEConfig

    fields = {k: v for k, v in OLD_CONFIG.items() if k not in ("type", "normalization_mapping", "moe")}
    # The head those checkpoints hold: a velocity DiT reading only cross-attended features (today's defaults
    # differ: a clean-sample DiT that also reads the image-token grid).
    config = MotionVLAConfig(**fields, moe=MoEConfig(**OLD_CONFIG["moe"]), motion_prediction="velocity",
                             motion_feature_channels=0)
    torch.manual_seed(3)
    old = MotionVLAPolicy(config)
    # The old head's tensors were named motion_head.dit.* (a bare MotionDiT): the same names as today.
    assert all(k.startswith("dit.") for k in old.motion_head.state_dict())
    (tmp_path / "config.json").write_text(json.dumps(OLD_CONFIG))
    save_file({k: v.contiguous() for k, v in old.state_dict().items()}, str(tmp_path / "model.safetensors"))
    loaded = MotionVLAPolicy.from_pretrained(tmp_path)
    assert loaded.config.flow_max_magnitude == 1.5 and loaded.config.motion_one_step_fraction == 0.0
    assert (loaded.config.motion_prediction, loaded.config.motion_feature_channels) == ("velocity", 0)
    assert loaded.motion_head.prediction == "velocity" and loaded.motion_head.feature_proj is None
    for key, value in old.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)


@pytest.mark.parametrize("options, message", [
    (dict(motion_one_step_fraction=1.5), "motion_one_step_fraction"),
    (dict(motion_past_flows=-1), "motion_past_flows"),
    (dict(motion_grounding_maps=2), "needs an image condition"),
    (dict(motion_sample_steps=0), "motion_sample_steps"),
    (dict(motion_camera="front"), "motion_camera"),
    (dict(motion_patch_size=4), "holds 192 values"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        MotionVLAConfig(device="cpu", **options)


def test_the_observed_flow_reaches_the_head_only_when_asked():
    config = MotionVLAConfig(image_size=32, hidden_size=32, image_token_grid=4, flow_max_magnitude=1.0,
                             motion_past_flows=1, device="cpu")
    assert config.observation_delta_indices == [-2, 0, 2, 4, 6, 8]
    policy = MotionVLAPolicy(config)
    batch = config.fake_batch(2)
    with pytest.raises(ValueError, match="motion_past"):
        policy(batch)
    batch["motion_past"] = torch.randn(2, 1, 2, 32, 32)
    loss, info = policy(batch)
    assert torch.isfinite(loss) and info["motion_loss"] > 0


def test_a_sample_predicting_dit_is_sampled_through_the_same_velocity_path():
    """``prediction="sample"``: forward returns the velocity its clean-sample output implies, so the one Euler
    sampler serves both; one step from pure noise lands exactly on the predicted sample."""
    from motionvla.flow_forecast.motion_dit import MotionDiT

    torch.manual_seed(0)
    dit = MotionDiT(2, 8, 16, patch_size=2, num_layers=1, num_heads=2, head_dim=16, prediction="sample").eval()
    context, mask = torch.randn(2, 3, 16), torch.ones(2, 3, dtype=torch.bool)
    noise = torch.randn(2, 6, 8, 8, generator=torch.Generator().manual_seed(5))
    predicted = dit(noise, torch.ones(2), context, mask, raw=True)
    torch.testing.assert_close(dit(noise, torch.ones(2), context, mask), noise - predicted)
    one_step = dit.sample_data(context, mask, 1, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(one_step, predicted)
    assert dit.dit_config["prediction"] == "sample" and "prediction" not in MotionDiT(2, 8, 16, patch_size=2).dit_config


@pytest.mark.parametrize("detach", [False, True])
def test_the_grid_path_reaches_the_backbone_unless_detached(detach):
    config = MotionVLAConfig(image_size=32, hidden_size=32, image_token_grid=4, flow_max_magnitude=1.0,
                             motion_feature_channels=4, motion_feature_detach=detach, device="cpu")
    head = MotionVLAPolicy(config).motion_head
    context = torch.randn(2, 5, 32, requires_grad=True)
    grid = torch.randn(2, 32, 4, 4, requires_grad=True)
    loss = head.batch_loss(context, torch.ones(2, 5, dtype=torch.bool), config.fake_batch(2), feature_map=grid)
    loss.backward()
    assert context.grad is not None and context.grad.abs().sum() > 0  # cross-attention always
    assert (grid.grad is None) == detach

"""Forward/backward, inference API, motion-head isolation, MoE, and learning on a fixed batch."""

import math

import pytest
import torch

from motionvla.flow_forecast.motion_dit import MotionDiT, motion_targets
from motionvla.policy import MoEConfig, MotionVLAConfig, MotionVLAPolicy


def test_forward_backward_shapes_and_finite_losses(make_config):
    cfg = make_config()
    policy = MotionVLAPolicy(cfg)
    batch = cfg.fake_batch(2)
    loss, info = policy(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert math.isfinite(info["action_loss"]) and info["motion_loss"] > 0
    loss.backward()
    grads = [p.grad for p in policy.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # The motion head's gradient reaches the backbone.
    assert policy.backbone.vision.features[0].weight.grad.abs().sum() > 0


def test_inference_shapes_and_action_queue(make_config):
    cfg = make_config(n_action_steps=4)
    policy = MotionVLAPolicy(cfg).eval()
    obs = cfg.fake_batch(2, with_targets=False)
    assert policy.predict_action_chunk(obs).shape == (2, cfg.chunk_size, cfg.action_dim)
    calls = []
    policy.action_head.register_forward_hook(lambda *a: calls.append(1))
    for _ in range(4):
        assert policy.select_action(obs).shape == (2, cfg.action_dim)
    assert len(calls) == cfg.num_inference_steps  # one chunk for 4 steps
    policy.select_action(obs)
    assert len(calls) == 2 * cfg.num_inference_steps
    policy.reset()
    assert len(policy._action_queue) == 0


def test_sample_action_chunks_runs_the_backbone_once_and_its_chunk_is_the_acting_one(make_config):
    cfg = make_config(inference_noise_scale=0.5)
    policy = MotionVLAPolicy(cfg).eval()
    obs = cfg.fake_batch(2, with_targets=False)
    torch.manual_seed(3)
    acting = policy.predict_action_chunk(obs)
    encodes = []
    policy.backbone.register_forward_hook(lambda *a: encodes.append(1))
    torch.manual_seed(3)
    chunk, samples = policy.sample_action_chunks(obs, num_samples=4, noise_scale=1.0)
    assert torch.allclose(chunk, acting, atol=1e-6)  # the same noise draw: what a plain request executes
    assert samples.shape == (2, 4, cfg.chunk_size, cfg.action_dim)
    assert samples.std(dim=1).mean() > 0  # distinct draws
    assert len(encodes) == 1  # one backbone pass for 1 + S chunks
    none = policy.sample_action_chunks(obs, num_samples=0)[1]
    assert none.shape == (2, 0, cfg.chunk_size, cfg.action_dim)


def test_motion_head_never_runs_when_acting(make_config):
    cfg = make_config()
    policy = MotionVLAPolicy(cfg).eval()
    fired = []
    policy.motion_head.register_forward_hook(lambda *a: fired.append(1))
    batch = cfg.fake_batch(2)  # even with targets present
    policy.predict_action_chunk(batch)
    for _ in range(cfg.n_action_steps + 1):
        policy.select_action(batch)
    assert not fired
    policy(batch)  # sanity: the hook works in training
    assert fired


def test_motion_weight_zero_is_action_only(make_config):
    cfg = make_config(motion_weight=0.0)
    policy = MotionVLAPolicy(cfg)
    assert policy.motion_head is None
    loss, info = policy(cfg.fake_batch(2))
    assert info["motion_loss"] == 0.0 and loss.item() == pytest.approx(info["action_loss"])
    # A model built with a motion head but run with weight 0 never calls it either.
    policy = MotionVLAPolicy(make_config())
    fired = []
    policy.motion_head.register_forward_hook(lambda *a: fired.append(1))
    policy.config.motion_weight = 0.0
    _, info = policy(policy.config.fake_batch(2))
    assert not fired and info["motion_loss"] == 0.0
    # Without a "motion" key it is weight 0 that makes the run action-only, never a silent skip
    # (with weight > 0 the batch is refused: test_flow_step.py).
    batch = policy.config.fake_batch(2)
    del batch["motion"]
    _, info = policy(batch)
    assert not fired and info["motion_loss"] == 0.0


def test_motion_head_is_the_forecasters_dit_without_image_condition(make_config):
    cfg = make_config(motion_feature_channels=0)
    head = MotionVLAPolicy(cfg).motion_head
    assert isinstance(head, MotionDiT) and head.condition_channels == 0
    assert head.dit_config["data_channels"] == 3 * cfg.motion_frames
    assert head.dit.config.in_channels == head.dit.config.out_channels == 3 * cfg.motion_frames
    # By default (-1: "8 with the tiny backbone") the head reads the image-token grid: its only condition channels.
    assert make_config().motion_feature_channels == -1
    grid = MotionVLAPolicy(make_config(motion_feature_channels=-1)).motion_head
    assert grid.condition_channels == make_config(motion_feature_channels=-1).feature_channels() == 8
    assert make_config(motion_feature_channels=-1, backbone="some/vlm").feature_channels() == 0
    assert grid.dit.config.in_channels == 3 * cfg.motion_frames + 8


def test_moe_backbone_trains_a_step(make_config):
    cfg = make_config(moe=MoEConfig(num_experts=4, top_k=2))
    policy = MotionVLAPolicy(cfg)
    assert len(policy.backbone.moe_layers) == cfg.num_layers
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    before = {n: p.detach().clone() for n, p in policy.named_parameters() if "experts" in n}
    loss, _ = policy(cfg.fake_batch(2))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(before[n], p) for n, p in policy.named_parameters() if n in before)


def test_a_few_steps_reduce_loss_on_fixed_batch(make_config):
    cfg = make_config(motion_weight=1.0)  # both heads count fully (the tiny default weighs motion 0.1)
    policy = MotionVLAPolicy(cfg)
    batch = cfg.fake_batch(2)
    opt = torch.optim.AdamW(policy.parameters(), lr=2e-3)

    def eval_loss() -> float:
        torch.manual_seed(123)  # same noise and times each evaluation
        with torch.no_grad():
            return policy(batch)[0].item()

    start = eval_loss()
    for _ in range(15):
        loss, _ = policy(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < 0.8 * start


def test_motion_targets_resize_scales_vectors(make_config):
    flow = torch.zeros(1, 2, 2, 32, 32)
    flow[:, :, 0] = 4.0  # 4 px to the right at 32 px
    img = motion_targets(flow, 16, max_magnitude=4.0)
    assert img.shape == (1, 6, 16, 16)
    from motionvla.flow import motion_image_float_to_flow

    back = motion_image_float_to_flow(img.reshape(1, 2, 3, 16, 16), 4.0)
    assert torch.allclose(back[:, :, 0], torch.full_like(back[:, :, 0], 2.0), atol=1e-3)  # halved with the image


def test_config_rejects_bad_values(make_config):
    with pytest.raises(ValueError, match="n_action_steps"):
        MotionVLAConfig(chunk_size=4, n_action_steps=5, device="cpu")
    with pytest.raises(ValueError, match="dispatcher"):
        MotionVLAConfig(moe=MoEConfig(num_experts=4, dispatcher="nope"), device="cpu")
    with pytest.raises(ValueError, match="observation.images"):
        MotionVLAConfig(image_keys=["front"], device="cpu")
    with pytest.raises(ValueError, match="flow_scale_percentile"):
        MotionVLAConfig(flow_scale_percentile=0.0, device="cpu")


def test_unmeasured_codec_scale_is_a_clear_error(make_config):
    policy = MotionVLAPolicy(make_config(flow_max_magnitude=0.0))
    with pytest.raises(ValueError, match="flow_max_magnitude"):
        policy(policy.config.fake_batch(2))

"""A real transformers VLM as the backbone: loaded with from_pretrained (model + its processor) from a
tiny Qwen2.5-VL the tests save, and the real-size preset built on the meta device."""

import pytest
import torch

from motionvla.policy import MotionVLAPolicy
from motionvla.policy.presets import describe_on_meta


def vlm_policy(make_config, path, **overrides):
    return MotionVLAPolicy(make_config(backbone=str(path), image_keys=["observation.images.front", "observation.images.wrist"],
                                       image_size=64, state_dim=4, action_dim=3, chunk_size=4, n_action_steps=4, **overrides))


def test_pretrained_vlm_policy_trains_and_acts(make_config, tiny_vlm_dir):
    policy = vlm_policy(make_config, tiny_vlm_dir)
    assert type(policy.backbone.vlm).__name__ == "Qwen2_5_VLModel"
    assert type(policy.backbone.processor).__name__ == "Qwen2_5_VLProcessor"
    batch = policy.config.fake_batch(2)
    loss, info = policy(batch)
    loss.backward()
    assert torch.isfinite(loss) and info["motion_loss"] > 0 and info["action_loss"] > 0
    vision_grad = [p.grad for n, p in policy.backbone.vlm.named_parameters() if n.startswith("visual.")]
    assert any(g is not None and g.abs().sum() > 0 for g in vision_grad)  # both heads train the whole VLM
    hidden, mask = policy.encode(batch)
    # 2 cameras x (4 image tokens + start/end markers) + instruction words (padded to the longest) + state.
    assert hidden.shape[0] == 2 and hidden.shape[-1] == 32 and mask.shape == hidden.shape[:2]
    assert mask[:, -1].all() and (~mask).any()  # the shorter instruction is padded
    policy.eval()
    chunk = policy.predict_action_chunk(policy.config.fake_batch(2, with_targets=False))
    assert chunk.shape == (2, 4, 3) and torch.isfinite(chunk).all()


def test_pretrained_vlm_moe_upcycles_only_the_language_model(make_config, tiny_vlm_dir):
    from motionvla.policy import MoEConfig

    policy = vlm_policy(make_config, tiny_vlm_dir, moe=MoEConfig(num_experts=4, top_k=2))
    assert len(policy.backbone.moe_layers) == 2 and all("visual" not in n for n in policy.backbone.moe_layers)
    loss, _ = policy(policy.config.fake_batch(2))
    loss.backward()
    assert torch.isfinite(loss)


def test_missing_backbone_is_a_clear_error(make_config, tmp_path):
    with pytest.raises(OSError):
        vlm_policy(make_config, tmp_path / "no_such_model")


def test_real_size_preset_builds_on_meta_with_parameter_counts():
    info = describe_on_meta("qwen2.5-vl-3b")
    counts = info["parameters"]
    assert 3.0e9 < counts["backbone"] < 4.5e9  # Qwen2.5-VL-3B with its vision tower
    assert 2.5e8 < counts["action_head"] < 3.5e8  # the ~300M action expert
    assert counts["total"] == counts["backbone"] + counts["action_head"] + counts["motion_head"]
    tiny = describe_on_meta("tiny")["parameters"]
    assert tiny["total"] < 2e6


def test_describe_policy_command(capsys):
    from motionvla.cli.main import main

    assert main(["describe-policy", "--preset=qwen2.5-vl-3b"]) == 0
    out = capsys.readouterr().out
    assert "action_head" in out and "meta device" in out
    assert main(["describe-policy", "--preset=nope"]) != 0
    assert "unknown --preset" in capsys.readouterr().err

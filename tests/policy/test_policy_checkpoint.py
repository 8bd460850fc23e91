"""save_pretrained / from_pretrained: round trip, lerobot registry, strict and atomic loading."""

import json

import pytest
import torch
from lerobot.configs import PreTrainedConfig
from safetensors.torch import load_file, save_file

from motionvla.policy import CheckpointError, MoEConfig, MotionVLAConfig, MotionVLAPolicy


@pytest.fixture
def saved(tmp_path, make_config):
    cfg = make_config(moe=MoEConfig(num_experts=2, top_k=1))
    policy = MotionVLAPolicy(cfg).eval()
    policy.save_pretrained(tmp_path)
    return policy, tmp_path


def test_round_trip_gives_identical_actions(saved):
    policy, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = MotionVLAPolicy.from_pretrained(path)
    assert loaded.config.moe.num_experts == 2 and loaded.config.image_size == policy.config.image_size
    obs = policy.config.fake_batch(2, with_targets=False, seed=3)
    torch.manual_seed(7)
    a = policy.predict_action_chunk(obs)
    torch.manual_seed(7)
    b = loaded.predict_action_chunk(obs)
    assert torch.equal(a, b)


@pytest.mark.parametrize("dispatcher", ["ep", "llep"])
def test_an_expert_parallel_checkpoint_acts_on_one_process(saved, capsys, dispatcher):
    # What a torchrun / accelerate training with ep or llep saves: every expert's weights (gathered), and the
    # dispatcher in config.json. One process has no group to spread the experts over: it holds them all.
    policy, path = saved
    config = json.loads((path / "config.json").read_text())
    config["moe"]["dispatcher"] = dispatcher
    (path / "config.json").write_text(json.dumps(config))
    loaded = MotionVLAPolicy.from_pretrained(path)
    assert loaded.config.moe.dispatcher == "local" and loaded.config.moe.num_experts == 2
    assert f"trained with --policy.moe.dispatcher={dispatcher}" in capsys.readouterr().err
    obs = policy.config.fake_batch(2, with_targets=False, seed=3)
    torch.manual_seed(7)
    a = policy.predict_action_chunk(obs)
    torch.manual_seed(7)
    assert torch.equal(a, loaded.eval().predict_action_chunk(obs))


def test_config_is_registered_with_lerobot(saved):
    _, path = saved
    assert "motionvla" in PreTrainedConfig.get_known_choices()
    assert json.loads((path / "config.json").read_text())["type"] == "motionvla"
    cfg = PreTrainedConfig.from_pretrained(path)
    assert isinstance(cfg, MotionVLAConfig) and cfg.chunk_size == 10


def test_missing_files_raise_clear_error(saved):
    _, path = saved
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        MotionVLAPolicy.from_pretrained(path)


def test_truncated_weights_raise(saved):
    _, path = saved
    f = path / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        MotionVLAPolicy.from_pretrained(path)


def test_partial_checkpoint_raises_and_loads_nothing(saved, monkeypatch):
    policy, path = saved
    state = load_file(path / "model.safetensors")
    dropped = sorted(state)[0]
    del state[dropped]
    save_file(state, path / "model.safetensors")
    copied = []
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", lambda *a, **k: copied.append(1))
    with pytest.raises(CheckpointError, match="1 missing"):
        MotionVLAPolicy.from_pretrained(path)
    assert not copied  # validation happens before any weight is copied


def test_checkpoint_from_other_config_raises(saved, tmp_path_factory, make_config):
    _, path = saved
    other = tmp_path_factory.mktemp("other")
    MotionVLAPolicy(make_config(action_dim=3)).save_pretrained(other)
    (other / "config.json").write_text((path / "config.json").read_text())
    with pytest.raises(CheckpointError, match="mis-shaped"):
        MotionVLAPolicy.from_pretrained(other)


def test_corrupt_config_raises(saved):
    _, path = saved
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config"):
        MotionVLAPolicy.from_pretrained(path)

"""The pre-processor's flow-target step (how lerobot-train trains the motion head) and the missing-target error."""

import copy
import numpy as np
import pytest
import torch

from motionvla.datasets.flow_targets import FlowTargetConfig, future_flows
from motionvla.errors import UserError
from motionvla.flow import FlowEstimator
from motionvla.policy import MotionVLAPolicy, load_processors, make_motionvla_pre_post_processors
from motionvla.policy.motion_head.flow_step import STEP_NAME, FlowTargetsStep

CAM = "observation.images.front"


def moving_episode(frames: int = 9, size: int = 32) -> np.ndarray:
    """uint8 (T, H, W, 3): a bright square moving right by 1 px per frame over a textured background."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 120, (size // 4, size // 4, 3)).astype(np.uint8).repeat(4, 0).repeat(4, 1)
    out = np.repeat(base[None], frames, axis=0)
    for t in range(frames):
        out[t, 10:20, 4 + t:14 + t] = 255
    return out


def lerobot_window(episode: np.ndarray, t: int, deltas: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """What lerobot's dataset returns for frame t with these delta indices: frames clamped to the episode
    ((K+1, 3, H, W) float in [0, 1]) and the padding flags ((K+1,) bool)."""
    n = len(episode)
    idx = [min(t + d, n - 1) for d in deltas]
    frames = torch.from_numpy(episode[idx]).permute(0, 3, 1, 2).float() / 255.0
    return frames, torch.tensor([t + d >= n for d in deltas])


def test_delta_indices_ask_for_the_future_frames_the_flows_need(make_config):
    assert make_config(motion_frames=4, flow_stride=2).observation_delta_indices == [0, 2, 4, 6, 8]
    assert make_config(motion_frames=2, flow_stride=1).observation_delta_indices == [0, 1, 2]
    assert make_config(motion_weight=0.0).observation_delta_indices is None  # action-only: one frame, as before


def test_step_gives_the_flow_caches_targets_and_the_current_frame(make_config):
    """Windows as lerobot builds them (clamped at the episode's end, flagged as padding) → the same flows and
    mask as the flow cache of `motionvla train` computes for the whole episode."""
    cfg = make_config(motion_frames=3, flow_stride=2)
    episode = moving_episode()
    expected, expected_mask = future_flows(episode, FlowEstimator("dis"),
                                           FlowTargetConfig(num_flows=3, stride=2, height=16, width=16))
    times = [0, 3, 6]  # t = 6: only its first flow (6 -> 8) lies inside the 9-frame episode
    windows = [lerobot_window(episode, t, cfg.observation_delta_indices) for t in times]
    frames = torch.stack([w[0] for w in windows])
    state = torch.arange(3 * 7 * 8, dtype=torch.float32).reshape(3, 7, 8)[:, :4]  # (B, K+1, S)
    pre, _ = make_motionvla_pre_post_processors(cfg)
    batch = pre({CAM: frames, "observation.state": state, f"{CAM}_is_pad": torch.stack([w[1] for w in windows]),
                 "action": torch.zeros(3, cfg.chunk_size, cfg.action_dim), "task": ["t"] * 3})
    assert batch["motion"].shape == (3, 3, 2, 16, 16) and batch["motion"].dtype == torch.float32
    assert batch["motion_mask"].tolist() == expected_mask[times].tolist()
    assert batch["motion_mask"][2].tolist() == [True, False, False]
    torch.testing.assert_close(batch["motion"], torch.from_numpy(expected[times]), atol=1e-5, rtol=0)
    assert batch["motion"][:, 0, 0].abs().max() > 0.1  # the square moves
    torch.testing.assert_close(batch[CAM], frames[:, 0])  # observations keep the current frame
    assert batch["observation.state"].shape == (3, 8)


def test_single_frames_pass_through_unchanged():
    step = FlowTargetsStep(camera=CAM, num_flows=2)
    obs = {CAM: torch.rand(2, 3, 32, 32), "observation.state": torch.zeros(2, 4)}
    transition = {"observation": obs, "complementary_data": {"task": ["a", "b"]}}
    assert step(transition) is transition
    assert copy.deepcopy(step) == step  # its thread pool is rebuilt, not copied
    with pytest.raises(ValueError, match="holds 4 frames per sample but 2 future flows need 3"):
        step({"observation": {CAM: torch.rand(1, 4, 3, 32, 32)}, "complementary_data": {}})


def test_processors_save_the_step_and_load_it_back(make_config, tmp_path):
    cfg = make_config(motion_frames=2)
    pre, post = make_motionvla_pre_post_processors(cfg, rename_map={"observation.images.top": CAM})
    names = [type(s).__name__ for s in pre.steps]
    assert names == ["RenameObservationsProcessorStep", "AddBatchDimensionProcessorStep", "FlowTargetsStep",
                     "DeviceProcessorStep", "NormalizerProcessorStep"]
    pre.save_pretrained(tmp_path)
    post.save_pretrained(tmp_path)
    loaded, _ = load_processors(tmp_path)
    step = next(s for s in loaded.steps if isinstance(s, FlowTargetsStep))
    assert step.get_config() == {"camera": CAM, "num_flows": 2, "height": 16, "width": 16, "method": "dis"}
    assert loaded.steps[0].rename_map == {"observation.images.top": CAM}
    assert STEP_NAME in (tmp_path / "policy_preprocessor.json").read_text()
    # The action-only baseline has no use for it.
    pre0, _ = make_motionvla_pre_post_processors(make_config(motion_weight=0.0))
    assert not any(isinstance(s, FlowTargetsStep) for s in pre0.steps)


def test_missing_motion_targets_are_an_error_not_a_silent_action_only_run(make_config):
    policy = MotionVLAPolicy(make_config(motion_weight=1.0))
    batch = policy.config.fake_batch(2)
    del batch["motion"]
    with pytest.raises(UserError, match="lacks 'motion'.*and 'motion_mask' while motion_weight=1.0 > 0"):
        policy(batch)
    policy.config.motion_weight = 0.0  # the action-only baseline needs no targets
    _, info = policy(batch)
    assert info["motion_loss"] == 0.0


def test_stacked_batch_trains_both_heads(make_config):
    cfg = make_config(motion_frames=2, flow_stride=1, chunk_size=4, n_action_steps=4)
    episode = moving_episode(frames=4)
    windows = [lerobot_window(episode, t, cfg.observation_delta_indices) for t in (0, 1)]
    pre, _ = make_motionvla_pre_post_processors(cfg)
    batch = pre({CAM: torch.stack([w[0] for w in windows]), f"{CAM}_is_pad": torch.stack([w[1] for w in windows]),
                 "observation.state": torch.zeros(2, 3, cfg.state_dim), "task": ["push", "push"],
                 "action": torch.zeros(2, 4, cfg.action_dim)})
    loss, info = MotionVLAPolicy(cfg)(batch)
    assert info["motion_loss"] > 0 and info["action_loss"] > 0 and torch.isfinite(loss)

"""`lerobot-train --policy.type=motionvla` trains the dual-head objective on a LIBERO-layout video dataset:
future frames through the policy's delta indices, flow targets from the pre-processor's step."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motionvla.errors import UserError
from motionvla.policy import MotionVLAConfig, MotionVLAPolicy, load_processors
from motionvla.policy.motion_head.flow_step import STEP_NAME

TINY = ["--policy.hidden_size=32", "--policy.action_hidden_size=32", "--policy.motion_resolution=16",
        "--policy.chunk_size=4", "--policy.n_action_steps=4", "--policy.num_inference_steps=2"]


def lerobot_train_cmd(root: Path, repo_id: str, out: Path, *extra: str) -> list[str]:
    exe = Path(sys.executable).with_name("lerobot-train")
    exe = exe if exe.exists() else Path(shutil.which("lerobot-train") or "lerobot-train")
    return [str(exe), "--policy.type=motionvla", "--policy.discover_packages_path=motionvla.policy",
            "--policy.device=cpu", "--policy.push_to_hub=false", *TINY, f"--dataset.repo_id={repo_id}",
            f"--dataset.root={root}", "--dataset.video_backend=pyav", "--steps=2", "--batch_size=2", "--save_freq=2",
            "--log_freq=1", f"--output_dir={out}", "--wandb.enable=false", "--num_workers=0", *extra]


@pytest.fixture(scope="module")
def lerobot_run(libero, tmp_path_factory):
    out = tmp_path_factory.mktemp("lerobot") / "run"
    proc = subprocess.run(lerobot_train_cmd(libero.root, libero.repo_id, out), capture_output=True, text=True, timeout=240)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    return out, log


def test_lerobot_train_logs_a_nonzero_motion_loss(lerobot_run):
    _, log = lerobot_run
    motion = [float(v) for v in re.findall(r"motion_loss:([0-9.]+)", log)]
    action = [float(v) for v in re.findall(r"action_loss:([0-9.]+)", log)]
    assert len(motion) == 2 and all(m > 0 for m in motion), log[-2000:]
    assert len(action) == 2 and all(a > 0 for a in action)
    # The codec scale was measured from the dataset's flows when the policy was built.
    assert re.search(r"flow_max_magnitude=[0-9.]+ px", log)


def test_lerobot_checkpoint_loads_and_acts(lerobot_run):
    out, _ = lerobot_run
    checkpoint = out / "checkpoints" / "000002" / "pretrained_model"
    policy = MotionVLAPolicy.from_pretrained(checkpoint)
    cfg = policy.config
    assert cfg.image_keys == ["observation.images.image", "observation.images.wrist_image"]
    assert (cfg.image_size, cfg.state_dim, cfg.action_dim) == (256, 8, 7) and cfg.flow_max_magnitude > 0
    assert policy.motion_head is not None
    assert STEP_NAME in (checkpoint / "policy_preprocessor.json").read_text()
    pre, post = load_processors(checkpoint)
    action = post(policy.eval().select_action(pre(cfg.fake_batch(1, with_targets=False))))
    assert action.shape == (1, 7) and torch.isfinite(action).all()


def test_lerobots_batches_carry_the_flow_caches_targets(libero):
    """lerobot's own dataset factory (delta timestamps from the config) + our pre-processor give the targets
    the flow cache of `motionvla train` holds for the same frames (decoded from the same videos)."""
    from lerobot.datasets.factory import resolve_delta_timestamps
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.policies.factory import make_policy
    from torch.utils.data import default_collate

    from motionvla.datasets.flow_targets import FlowTargetConfig, FlowTargets, build_flow_cache
    from motionvla.policy.processor_motionvla import make_motionvla_pre_post_processors

    plain = LeRobotDataset(libero.repo_id, root=libero.root, video_backend="pyav")
    meta = plain.meta
    cfg = MotionVLAConfig(device="cpu", motion_resolution=16, flow_max_magnitude=1.0)
    make_policy(cfg, ds_meta=meta)  # fills the config's features from the dataset, as lerobot-train does
    delta = resolve_delta_timestamps(cfg, meta)
    assert delta["observation.images.wrist_image"] == delta["observation.state"] == [0.0, 0.2, 0.4, 0.6, 0.8]
    dataset = LeRobotDataset(libero.repo_id, root=libero.root, delta_timestamps=delta, video_backend="pyav",
                             return_uint8=True)
    indices = [0, 13, 19]  # 13, 19: flows past the 20-frame episode's end are masked
    batch = default_collate([dataset[i] for i in indices])
    for key in meta.camera_keys:  # what lerobot-train's loop does before the pre-processor
        batch[key] = batch[key].float() / 255.0
    pre, _ = make_motionvla_pre_post_processors(cfg, {})
    processed = pre(batch)
    cache = FlowTargets(build_flow_cache(plain, FlowTargetConfig(camera="image", num_flows=4, stride=2, height=16,
                                                                   width=16), progress=False))
    flows, masks = zip(*(cache.get(i) for i in indices))
    assert processed["motion_mask"].tolist() == [m.tolist() for m in masks]
    assert processed["motion_mask"][1].tolist() == [True, True, True, False]
    # The cache stores float16: compare at its precision.
    torch.testing.assert_close(processed["motion"], torch.from_numpy(np.stack(flows)), atol=2e-2, rtol=1e-2)
    assert processed["observation.images.image"].shape == (3, 3, 256, 256)


def test_lerobot_make_policy_refuses_a_dataset_without_the_features_it_needs(libero_variant):
    from lerobot.datasets.dataset_metadata import LeRobotDatasetMetadata
    from lerobot.policies.factory import make_policy

    root = libero_variant(state_key=None, episodes=1, frames=4)
    meta = LeRobotDatasetMetadata(f"local/{root.parent.name}", root=root)
    with pytest.raises(UserError, match=r"lacks feature\(s\) observation.state; the motionvla policy needs"):
        make_policy(MotionVLAConfig(device="cpu"), ds_meta=meta)


def test_motionvla_eval_runs_the_lerobot_train_checkpoint_in_real_libero(lerobot_run, tmp_path):
    """The lerobot-train run folder (its last checkpoint) drives a real LIBERO env through `motionvla eval`
    (3 policy steps: loading, the protocol reset and the observation layout are what is checked here)."""
    import json

    from motionvla.cli.main import main

    out, _ = lerobot_run
    dest = tmp_path / "eval"
    assert main(["eval", f"--policy={out}", "--env=libero_spatial", "--tasks=0", "--episodes=1", "--max_steps=3",
                 "--workers=1", f"--out={dest}"]) == 0
    info = json.loads((dest / "eval_info.json").read_text())
    (episode,) = info["per_task"]["libero_spatial/0"]["episodes"]
    assert episode["error"] is None and episode["length"] == 3 and episode["init_state_id"] == 0

"""`motionvla eval` on LIBERO counts and seeds trials as the reference scripts do (two real trials via --shard)."""

import json

import pytest

from motionvla.cli.main import main
from sim_envs.libero import install


@pytest.fixture(autouse=True)
def libero_ready():
    assert not install.missing_parts(), "LIBERO is not set up: run `make libero` (make test does)"


def test_fifty_trials_by_default_and_the_openpi_seed(tmp_path):
    out = tmp_path / "shard"
    assert main(["eval", "--env=libero_spatial", "--tasks=0", "--shard=0/25", "--policy=random", "--max_steps=1",
                 "--videos_per_task=0", "--workers=1", f"--out={out}"]) == 0
    info = json.loads((out / "eval_info.json").read_text())
    episodes = info["per_task"]["libero_spatial/0"]["episodes"]
    # shard 0 of 25 of a 50-trial task: trials 0 and 25, from initial states 0 and 25
    assert [e["init_state_id"] for e in episodes] == [0, 25]
    assert [e["seed"] for e in episodes] == [7, 7] and info["seed_protocol"] == "openpi"


@pytest.mark.parametrize("option, message", [
    ("--seed_protocol=nightly", "--seed_protocol=nightly: unknown for libero_spatial; accepted: openpi, openvla, "
                                "per_episode"),
    ("--cameras=front", "--cameras=front: libero_spatial has no camera front; it renders image, wrist_image"),
])
def test_bad_protocol_or_camera_is_one_line(option, message, tmp_path, capsys):
    assert main(["eval", "--env=libero_spatial", "--tasks=0", "--policy=random", "--episodes=1", option,
                 f"--out={tmp_path / 'x'}"]) == 2
    assert message in capsys.readouterr().err

"""Fixtures shared across test folders: tiny recorded tabletop datasets and tiny policy options."""

import pytest

from motionvla.datasets.sim_recording import RecordDemosConfig, record_demos

# Policy options that make training and evaluation take seconds on CPU.
TINY_POLICY_ARGS = ("--policy.hidden_size=32", "--policy.action_hidden_size=32", "--policy.motion_resolution=16",
                    "--policy.chunk_size=4", "--policy.n_action_steps=4", "--policy.num_inference_steps=2")


@pytest.fixture(scope="session")
def tiny_policy_args() -> list[str]:
    return list(TINY_POLICY_ARGS)


@pytest.fixture(scope="session")
def record_tiny_demos(tmp_path_factory):
    """``make(tasks)``: a LeRobotDataset of one 32x32 expert episode per task, recorded once per session."""
    made: dict[str, RecordDemosConfig] = {}

    def make(tasks: str) -> RecordDemosConfig:
        if tasks not in made:
            out = tmp_path_factory.mktemp("demos") / "ds"
            cfg = RecordDemosConfig(tasks=tasks, episodes_per_task=1, episodes_per_part=1, out=str(out), workers=1,
                                    image_size=32, repo_id=f"local/tiny_{len(made)}")
            record_demos(cfg)
            made[tasks] = cfg
        return made[tasks]

    return make

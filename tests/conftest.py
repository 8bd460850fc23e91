"""Fixtures shared across test folders: tiny recorded tabletop datasets, tiny policy options, synthetic
captioned video sets and prep shards made from them."""

from pathlib import Path

import pytest

from data_prep.config import PrepConfig
from data_prep.runner import run_prep
from data_prep.synth import SynthVideosConfig, synth_videos
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


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory):
    """``make(**cfg)``: a synthetic set written once per distinct config; returns its folder."""
    made: dict[tuple, Path] = {}

    def make(**kwargs) -> Path:
        options = {"videos": 6, "size": 128, "frames": 16, "seed": 0, **kwargs}
        key = tuple(sorted(options.items()))
        if key not in made:
            out = tmp_path_factory.mktemp("synth") / "set"
            synth_videos(SynthVideosConfig(out=str(out), **options))
            made[key] = out
        return made[key]

    return make


@pytest.fixture(scope="session")
def tiny_shards(synth_set, tmp_path_factory):
    """A prep output folder: 64² frames and flows, frames_in 2, K 4 (several dozen samples)."""
    out = tmp_path_factory.mktemp("forecast_shards") / "shards"
    run_prep(PrepConfig(input=str(synth_set(videos=6, seed=11) / "manifest.jsonl"), out=str(out), size=64,
                        flow_size=128, stride=2, motion_threshold_px=0.15, progress=False))
    return out


def pytest_collection_modifyitems(items):
    """Order for `make test` (pytest-xdist, ``--dist loadgroup``): files with a test marked ``slow`` first, since the
    workers are handed tests in this order and a long one handed out last would leave the other worker idle at the
    end (the sort is stable: each file's tests stay together and in order). The docs blocks carry their own
    ``xdist_group`` (one per document: its blocks share a working folder); every other test is handed out on its own,
    so a module fixture may be built in both workers — measured faster here than one file per worker (README, Tests).
    """
    slow_files = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow_files)

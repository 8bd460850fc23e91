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


# Folders whose files share expensive session fixtures (the ROS scenarios' network namespace, policy server and
# checkpoint): their tests go to one xdist worker together, or each worker would build those fixtures again.
SHARED_SESSION_FOLDERS = ("tests/deploy/ros/",)


# tryfirst: xdist's own collection hook (in each worker) turns the ``xdist_group`` marks into scheduling units, so
# the marks must be added before it runs. (Grouping also needs pytest < 9.2: pyproject.toml, tests/test_xdist_groups.py.)
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Scheduling for `make test` (pytest-xdist, ``--dist loadgroup --no-loadscope-reorder``). A test that uses a
    module-scoped fixture is grouped with the rest of its file (one group per folder of
    :data:`SHARED_SESSION_FOLDERS`), so each such fixture (a training run, a ROS scenario: up to two minutes) is built
    in one worker only; the docs blocks carry their own group (one per document: they share a working folder); every
    other test is handed out on its own. xdist hands out groups and tests in this order: the long ones first (files
    with a test marked ``slow``, the docs blocks), so that a long one handed out last does not leave the other worker
    idle at the end; the sort is stable, so each file's tests stay together and in order.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        path = item.nodeid.split("::", 1)[0]
        folder = next((f for f in SHARED_SESSION_FOLDERS if path.startswith(f)), None)
        fixtures = getattr(item, "_fixtureinfo", None)
        module_scoped = fixtures is not None and any(
            d.scope == "module" for defs in fixtures.name2fixturedefs.values() for d in defs)
        if folder is not None or module_scoped:
            item.add_marker(pytest.mark.xdist_group(folder or path))
    long_files = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow")}
    long_files.add("tests/docs/test_docs_blocks.py")
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in long_files)


"""The shell and Python blocks of README.md and docs/*.md run as written.

Each block runs, in the order of its file, in one working folder per file (``.venv``, ``benchmarks``, ``packages``,
``tools`` linked in; the venv's ``bin`` first on ``PATH``), so a block can use what an earlier block of its file
made. What ``make demo`` and other files' blocks would have left is there, small (:func:`world`):
``outputs/quickstart/`` (the quickstart run at a tiny size: demos, a run folder with checkpoints, evaluations, the
report), ``outputs/forecast/run`` (a tiny forecaster), ``outputs/flow_shards`` (prep shards of a few synthetic
videos), except a folder that a block of the same file makes itself; a block that talks to ``motionvla serve``
finds one on 127.0.0.1:8000 serving the quickstart's policy. A block that cannot run here is marked on the line before it
with ``<!-- not run: REASON -->``; :func:`test_marked_blocks_say_why` lists them. A block that runs for minutes at
the sizes it shows runs scaled down instead: ``<!-- scaled: --videos=2 --episodes=1 -->`` on the line before it sets
those options' values wherever the block gives them (each must appear in the block, so a marker cannot go stale).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(bash|sh|python)[^\n]*\n(.*?)^```", re.S | re.M)
MARK = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->\s*$")
SCALED = re.compile(r"<!--\s*scaled:\s*(.*?)\s*-->\s*$")
OPTION = re.compile(r"^--[\w.-]+=\S+$")
LINKED = (".venv", "benchmarks", "packages", "tools")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    lang: str
    code: str
    not_run: str | None  # the marker's reason, None when the block runs
    scaled: tuple[str, ...] = ()  # `--option=value` overrides of a scaled block

    def runnable_code(self) -> str:
        """The code with each scaled option's value replaced wherever the block gives that option."""
        code = self.code
        for override in self.scaled:
            assert OPTION.match(override), f"{self.id}: scaled marker entries are --option=value, got {override!r}"
            name = override.partition("=")[0]
            # anchored: --episodes must not match the tail of another option such as --eval.n--episodes
            code, count = re.subn(r"(?<![\w.-])" + re.escape(name) + r"=\S+", lambda _: override, code)
            assert count, f"{self.id}: the scaled marker sets {name}, which the block does not give"
        return code

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark, scaled = MARK.search(before), SCALED.search(before)
            found.append(Block(path, text[: match.start()].count("\n") + 1, match.group(1), match.group(2),
                               mark.group(1) if mark else None, tuple(scaled.group(1).split()) if scaled else ()))
    return found


ALL = blocks()
RUN = [b for b in ALL if b.not_run is None]


# The quickstart at a tiny size (2 tasks, 2 demos each, 32², 3 steps of the tiny policy): real demos, a real run
# folder (checkpoints/last, train_config.json), evaluations and the report, where `make demo` puts them.
QUICKSTART = ["quickstart", "--output_dir=outputs/quickstart", "--demos.tasks=push_red_left,lift_red",
              "--demos.episodes_per_task=2", "--demos.image_size=32", "--demos.workers=1", "--steps=3", "--batch_size=4",
              "--train.progress=false", "--eval_episodes=1", "--eval_workers=1", "--heldout_episodes_per_task=1"]


# Session scope: under xdist the documents' groups of this module alternate with other files in a worker, and a
# module fixture would be built again at each return (the quickstart inside it costs about half a minute). Under
# xdist the workers share one world: the first to need it builds it in the run's common temporary folder (the
# workers' folders are inside it) while a file lock holds the other back; blocks only read it (folder_for copies).
@pytest.fixture(scope="session")
def world(tmp_path_factory, tiny_policy_args, request) -> Path:
    """The outputs the run blocks read, small: the quickstart's, a forecaster, prep shards. Paths inside them are
    relative (made from the folder above ``outputs``), as a user's are, so a copy of it works where it lands."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process: its own folder (the parent is shared across runs)
        return build_world(tmp_path_factory.mktemp("docs_world"), request.getfixturevalue("tiny_shards"),
                           tiny_policy_args)
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # this run's pytest-N, common to its workers
    with FileLock(str(shared / "docs_world.lock")):
        if not (shared / "docs_world" / "complete").exists():
            shutil.rmtree(shared / "docs_world", ignore_errors=True)  # a build that failed in the other worker
            build_world(shared / "docs_world", request.getfixturevalue("tiny_shards"), tiny_policy_args)
            (shared / "docs_world" / "complete").touch()
    return shared / "docs_world" / "outputs"


def build_world(folder: Path, tiny_shards: Path, tiny_policy_args: list[str]) -> Path:
    """Builds the world's ``outputs`` in ``folder`` -> that ``outputs`` folder."""
    import torch

    from motionvla.flow_forecast import FlowForecastPipeline, FlowForecaster
    from motionvla.flow_forecast.configuration import ForecasterConfig

    root = folder / "outputs"
    root.mkdir(parents=True)
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "motionvla.cli.main", *QUICKSTART, *tiny_policy_args],
                          cwd=root.parent, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    torch.manual_seed(0)
    forecaster = FlowForecaster(forecaster=ForecasterConfig(flow_max_magnitude=1.0, hidden_size=32, image_token_grid=4,
                                                            resolution=16, image_size=32).to_dict())
    FlowForecastPipeline(forecaster).save_pretrained(root / "forecast" / "run" / "pretrained_model")
    (root / "flow_shards").symlink_to(tiny_shards)  # the forecaster tests' shards: made once per session
    return root


@pytest.fixture(scope="session")  # the server thread runs until the process ends: started once
def server(world):
    """`motionvla serve --checkpoint=outputs/quickstart/train` on 127.0.0.1:8000 (the port the docs name)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.fail("port 8000 is taken: the deploy docs' client block needs it for the docs' server")
    from motionvla.cli.main import main

    thread = threading.Thread(target=main, args=(["serve", f"--checkpoint={world / 'quickstart' / 'train'}"],),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", 8000)) == 0:
                return
        time.sleep(0.2)
    pytest.fail("the docs' server did not start within 60 s")


_folders: dict[Path, Path] = {}


def made_by(path: Path) -> set[str]:
    """The ``outputs/<name>`` folders that a file's run blocks write themselves (``--output_dir=`` / ``--out=``):
    such a folder is not given to the file from the world, or the block would find it taken."""
    code = "\n".join(b.runnable_code() for b in RUN if b.file == path)
    return set(re.findall(r"--(?:output_dir|out)=outputs/([\w.-]+)", code))


def folder_for(block: Block, world: Path, tmp_path_factory) -> Path:
    """The file's working folder: the repository's tools linked, and a copy of the world's outputs (a copy, so that
    a block continuing the quickstart's run or writing into it leaves the other files' world as it was)."""
    if block.file not in _folders:
        folder = tmp_path_factory.mktemp(block.file.stem)
        for name in LINKED:
            (folder / name).symlink_to(ROOT / name if name != ".venv" else Path(sys.prefix))
        (folder / "outputs").mkdir()
        own = made_by(block.file)
        for item in world.iterdir():
            if item.name not in own:
                if item.is_symlink():
                    (folder / "outputs" / item.name).symlink_to(item.readlink())
                else:
                    shutil.copytree(item, folder / "outputs" / item.name, symlinks=True)
        _folders[block.file] = folder
    return _folders[block.file]


def test_every_block_is_found_and_some_run():
    assert len(ALL) >= 40 and len(RUN) >= 10, (len(ALL), len(RUN))


def test_a_scaled_marker_sets_only_options_the_block_gives():
    block = Block(ROOT / "README.md", 1, "bash", "motionvla eval --episodes=20 --out=x\nmotionvla eval --episodes=5\n",
                  None, ("--episodes=1",))
    assert block.runnable_code() == "motionvla eval --episodes=1 --out=x\nmotionvla eval --episodes=1\n"
    stale = Block(ROOT / "README.md", 1, "bash", "motionvla eval --out=x\n", None, ("--episodes=1",))
    with pytest.raises(AssertionError, match="sets --episodes, which the block does not give"):
        stale.runnable_code()


def test_marked_blocks_say_why():
    vague = [b.id for b in ALL if b.not_run is not None and len(b.not_run.split()) < 3]
    assert not vague, f"say why these blocks cannot run here: {vague}"


@pytest.mark.timeout(300)
# One xdist group per document: its blocks share a working folder, so they run in order in one worker.
@pytest.mark.parametrize("block", [pytest.param(b, id=b.id, marks=pytest.mark.xdist_group(str(b.file.relative_to(ROOT))))
                                   for b in RUN])
def test_block_runs_as_written(block, world, tmp_path_factory, request):
    if "PolicyClient(" in block.code:
        request.getfixturevalue("server")
    cwd = folder_for(block, world, tmp_path_factory)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "HF_HUB_OFFLINE": "1"}
    code = block.runnable_code()
    command = [sys.executable, "-c", code] if block.lang == "python" else ["bash", "-eo", "pipefail", "-c", code]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, f"{block.id} failed:\n{block.code}\n--- output ---\n{(proc.stdout + proc.stderr)[-3000:]}"

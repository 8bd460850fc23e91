"""`make test`'s scheduling holds: under ``pytest -n 2 --dist loadgroup`` the tests of one ``xdist_group`` run in one
worker, both for explicit marks (the docs blocks of one document share a working folder) and for the groups
tests/conftest.py adds to a file whose tests use a module-scoped fixture (built once, not once per worker).

pytest 9.2 with pytest-xdist 3.8 silently broke both (every test handed out alone), hence this check on a tiny
suite run in a subprocess with the project's own hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUITE = '''
import json, os, time
from pathlib import Path

import pytest

OUT = Path(os.environ["GROUPS_OUT"])


def record(name):
    time.sleep(0.3)  # both workers are busy while the tests are handed out
    (OUT / name).write_text(os.environ["PYTEST_XDIST_WORKER"])


@pytest.fixture(scope="module")
def shared():
    return 1


@pytest.mark.parametrize("i", range(4))
def test_uses_module_fixture(shared, i):
    record(f"module_{i}")


@pytest.mark.xdist_group("document")
@pytest.mark.parametrize("i", range(4))
def test_explicit_group(i):
    record(f"explicit_{i}")
'''

ALONE = '''
import os, time
from pathlib import Path

import pytest


@pytest.mark.parametrize("i", range(6))
def test_alone(i):
    time.sleep(0.3)
    (Path(os.environ["GROUPS_OUT"]) / f"alone_{i}").write_text(os.environ["PYTEST_XDIST_WORKER"])
'''


def test_groups_stay_in_one_worker(tmp_path):
    suite, out = tmp_path / "suite", tmp_path / "out"
    suite.mkdir()
    out.mkdir()
    # the project's hook, loaded from its file (a dependency installs a top-level `tests` package of its own)
    (suite / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('project_conftest', {str(ROOT / 'tests' / 'conftest.py')!r})\n"
        "project = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(project)\n"
        "pytest_collection_modifyitems = project.pytest_collection_modifyitems\n")
    (suite / "test_grouped.py").write_text(SUITE)
    (suite / "test_alone.py").write_text(ALONE)
    env = {**os.environ, "GROUPS_OUT": str(out), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
                           "-q", str(suite)], cwd=suite, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = {p.name: p.read_text() for p in out.iterdir()}
    assert len(workers) == 14, json.dumps(workers)
    for prefix in ("module", "explicit"):
        used = {w for name, w in workers.items() if name.startswith(prefix)}
        assert len(used) == 1, f"the {prefix} group ran in {sorted(used)}: {json.dumps(workers)}"
    # the two workers both ran something: the groups were not all that was scheduled
    assert len(set(workers.values())) == 2, json.dumps(workers)

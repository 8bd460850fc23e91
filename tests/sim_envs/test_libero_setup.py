"""`make libero`'s results: init states read without unrestricted unpickling, a second set-up run is quick.

Needs LIBERO set up (``make test`` does it first); fails otherwise. About 10 s on the 2-core CPU machine,
most of it the set-up script's own LIBERO import check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim_envs.libero import install

REPO = Path(__file__).resolve().parents[2]

# `make test` sets LIBERO up first, so a missing set-up is a failure here, never a silent skip.
if install.missing_parts():
    pytest.fail(f"LIBERO not set up ({'; '.join(install.missing_parts())}); run `make libero`", pytrace=False)


@pytest.fixture(scope="module")
def pruned_files() -> list[Path]:
    root = install.libero_root()
    files = sorted((root / "init_files").glob("*/*.pruned_init"))
    assert len(files) == 130  # 10 + 10 + 10 + 10 + 90 tasks
    return files


def test_npz_copies_equal_the_restricted_pickle_load(pruned_files):
    root = install.libero_root()
    for path in pruned_files[::13]:
        states = install.load_init_states(path, root)
        assert install.npz_path(path, root).is_file(), "make libero converts every task's init states"
        assert states.dtype == np.float64 and states.shape[0] == 50 and 40 <= states.shape[1] <= 130
        np.testing.assert_array_equal(states, install._torch_load_restricted(path))


def test_without_npz_the_pickle_is_loaded_weights_only(pruned_files, monkeypatch, tmp_path):
    import torch

    calls: list[dict] = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    monkeypatch.setenv(install.HOME_ENV, str(tmp_path))  # no npz copies there
    states = install.load_init_states(pruned_files[0])
    assert states.shape[0] == 50
    assert calls and all(c.get("weights_only") is True for c in calls)


def test_second_setup_run_skips_pip_and_is_quick():
    out = subprocess.run([sys.executable, "tools/setup_libero.py"], cwd=REPO, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pip skipped" in out.stdout and "0 converted now" in out.stdout
    assert "pip install" not in out.stdout
    seconds = float(out.stdout.rsplit("done in ", 1)[1].split(" s", 1)[0])
    assert seconds < 60

"""Shared helpers for the evaluation tests: small images, few episodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from motionvla.cli.main import main


@pytest.fixture
def run_eval(tmp_path):
    """Run ``motionvla eval`` with small defaults; returns (exit status, eval_info or None, out dir)."""

    def _run(*options: str, name: str = "out"):
        out = tmp_path / name
        argv = ["eval", f"--out={out}", "--image_size=64", *options]
        status = main(argv)
        info_path = Path(out) / "eval_info.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else None
        return status, info, out

    return _run

"""Helpers for the data-prep tests: run `motionvla prep` in a fresh interpreter, read its books."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Small samples so that a prep run takes seconds: the 128² synthetic videos' flow is estimated at 128² (DIS
# cannot see sub-pixel motion of 10-pixel objects at 64²) and stored at 64², where objects move 0.4-1 px per
# frame; 16 frames -> 3 clips of frames_in 2 + future 4 at stride 4.
TINY_PREP = ("--size=64", "--flow_size=128", "--fps=12", "--frames_in=2", "--future=4", "--stride=4",
             "--progress=false", "--motion_threshold_px=0.15")


# Root reads a mode-000 file anyway; without these two capabilities it meets file permissions like any user.
AS_PLAIN_ROOT = ("setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search")


def prep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "motionvla.cli.main", "prep", *args]


def run_prep_cli(*args: str, honour_permissions: bool = False, timeout: float = 240) -> subprocess.CompletedProcess:
    """`motionvla prep ARGS` in a fresh interpreter, output captured. ``honour_permissions``: when run as root,
    drop the capabilities that let root read any file, so that a mode-000 file is unreadable."""
    prefix = list(AS_PLAIN_ROOT) if honour_permissions and os.geteuid() == 0 else []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(prefix + prep_command(*args), capture_output=True, text=True, timeout=timeout, env=env)


def read_manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]

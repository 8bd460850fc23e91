"""The constraints file every install uses (`make` installs with `uv pip install -c constraints.txt`, or pip).

    python tools/lock.py write   # pin what .venv holds now (after `make lock` re-resolved it from pyproject.toml)
    python tools/lock.py check   # exit 1 with the command to run when pyproject.toml's requirements changed

The file's first line records a digest of the requirement tables of pyproject.toml and of the client package, so
an edit there without a refreshed lock is caught before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"
PYPROJECTS = [ROOT / "pyproject.toml", ROOT / "packages/motionvla-client/pyproject.toml"]
HEADER = "# requirements-digest: "


def digest() -> str:
    tables = []
    for path in PYPROJECTS:
        project = tomllib.loads(path.read_text())["project"]
        tables.append({"dependencies": project.get("dependencies", []),
                       "optional-dependencies": project.get("optional-dependencies", {})})
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:16]


def write() -> None:
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout
    lines = [line for line in frozen.splitlines() if line and not line.startswith("-e ")]
    text = "\n".join([HEADER + digest(), "# Written by `make lock` (tools/lock.py write); installs use it as pip -c.",
                      *sorted(lines, key=str.lower)]) + "\n"
    tmp = LOCK.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(LOCK)
    print(f"wrote {LOCK.name}: {len(lines)} pins")


def check() -> int:
    if not LOCK.is_file():
        print(f"{LOCK.name} is missing: run `make lock` to write it", file=sys.stderr)
        return 1
    first = LOCK.read_text().splitlines()[0]
    if first != HEADER + digest():
        print(f"{LOCK.name} is out of date with pyproject.toml's requirements: run `make lock` "
              f"(re-resolves them without the old pins, then rewrites {LOCK.name})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["write"]:
        write()
    elif sys.argv[1:] == ["check"]:
        sys.exit(check())
    else:
        sys.exit(__doc__)

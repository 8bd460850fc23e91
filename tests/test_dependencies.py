"""Each package declares what it imports, and imports what it declares (extras included).

Every ``import``/``from`` in a package's source is mapped to the distribution that provides it (through
``importlib.metadata.packages_distributions``) and compared with the package's ``pyproject.toml``. Imports that
belong to the system rather than to PyPI (the standard library, ROS 2's rclpy and message packages, LIBERO's
``libero`` module from hf-libero) are named below with the reason.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Not from PyPI: ROS 2 comes from ros-jazzy-* wheels in their own venv (tools/setup_ros.sh); the message packages
# travel with it.
ROS_MODULES = {"rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "trajectory_msgs", "builtin_interfaces"}
# Import name -> distribution, where the installed metadata does not say (a module provided by an extra that the
# test environment may lack, or a distribution whose top-level name differs).
KNOWN = {"libero": "hf-libero", "cv2": "opencv-python-headless", "PIL": "pillow", "yaml": "pyyaml",
         "roslibpy": "roslibpy", "ray": "ray", "openpi_client": "openpi-client", "wandb": "wandb",
         "pytest": "pytest", "hypothesis": "hypothesis", "motionvla_client": "motionvla-client"}

PACKAGES = {
    "motionvla": (ROOT / "pyproject.toml", ["motionvla", "data_prep", "sim_envs"]),
    "motionvla-client": (ROOT / "packages/motionvla-client/pyproject.toml", ["packages/motionvla-client/motionvla_client"]),
}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared(pyproject: Path) -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads(pyproject.read_text())["project"]
    core = {_name(r) for r in project.get("dependencies", [])}
    extras = {k: {_name(r) for r in v} for k, v in project.get("optional-dependencies", {}).items()}
    return core, extras


def imported(folders: list[str], own: set[str]) -> dict[str, set[str]]:
    """Top-level import name -> files that import it (absolute imports that are not the package's own)."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in own and top not in sys.stdlib_module_names and top not in ROS_MODULES:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@cache  # it reads every installed distribution's file list (~1 s here): once, not once per imported module
def _module_to_distributions() -> dict[str, list[str]]:
    return packages_distributions()


def distribution(module: str) -> str:
    if module in KNOWN:
        return KNOWN[module]
    dists = _module_to_distributions().get(module)
    if not dists:
        raise AssertionError(f"no installed distribution provides the module {module!r}: add it to KNOWN with its "
                             f"distribution name")
    return dists[0].lower().replace("_", "-")


@pytest.mark.parametrize("package", list(PACKAGES))
def test_declared_requirements_match_the_imports(package):
    pyproject, folders = PACKAGES[package]
    own = {Path(f).name for f in folders}
    core, extras = declared(pyproject)
    everything = core | set().union(*extras.values()) if extras else core
    modules = imported(folders, own)
    needed = {distribution(m): m for m in modules}
    undeclared = {d: sorted(modules[m])[:2] for d, m in needed.items() if d not in everything}
    assert not undeclared, f"{package} imports undeclared distributions (dist: files): {undeclared}"
    # Every declared core requirement is imported somewhere (or is named here with why it is needed anyway).
    needed_without_import = {
        # torch's image models for lerobot's policies; lerobot declares it too, we pin it beside torch.
        "torchvision",
        # lerobot[dataset]: the dataset extra's decoders; imported by lerobot, not by us.
        "lerobot",
    }
    unused = sorted(d for d in core if d not in needed and d not in needed_without_import)
    assert not unused, f"{package} declares requirements it never imports: {unused}"


def _lock_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock", ROOT / "tools" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_lock_matches_the_requirements(capsys):
    assert _lock_module().check() == 0, capsys.readouterr().err


def test_a_changed_requirement_makes_the_lock_stale_with_the_command_to_run(tmp_path, monkeypatch, capsys):
    lock = _lock_module()
    changed = tmp_path / "pyproject.toml"
    changed.write_text((ROOT / "pyproject.toml").read_text().replace('"scipy>=1.11"', '"scipy>=1.12"'))
    monkeypatch.setattr(lock, "PYPROJECTS", [changed, *lock.PYPROJECTS[1:]])
    assert lock.check() == 1
    assert "out of date with pyproject.toml's requirements: run `make lock`" in capsys.readouterr().err

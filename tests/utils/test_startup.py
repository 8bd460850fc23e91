"""motionvla/utils/startup.py: one scan of the installed distributions per process, each caller its own copy."""

import importlib.metadata
import subprocess
import sys

from motionvla.utils import startup


def test_the_scan_runs_once_and_callers_cannot_change_each_others_answer(monkeypatch):
    calls = []

    def scan():
        calls.append(1)
        return {"yaml": ["PyYAML"], "torch": ["torch"]}

    monkeypatch.setattr(importlib.metadata, "packages_distributions", scan)
    startup.remember_installed_distributions()
    startup.remember_installed_distributions()  # idempotent: not a cache of a cache
    first = importlib.metadata.packages_distributions()
    first["yaml"].append("changed by a caller")
    first["new"] = ["also changed"]
    second = importlib.metadata.packages_distributions()
    assert second == {"yaml": ["PyYAML"], "torch": ["torch"]}
    assert len(calls) == 1


def test_importing_motionvla_gives_the_standard_answer_from_one_scan():
    # A fresh interpreter: the standard answer first, then motionvla's, which must be equal and scanned once.
    code = """
import importlib.metadata as md
expected = md.packages_distributions()
scans = []
original_distributions = md.distributions
def counting(**kw):
    scans.append(1)
    return original_distributions(**kw)
md.distributions = counting
import motionvla
a, b = md.packages_distributions(), md.packages_distributions()
assert a == expected == b, "not the standard answer"
assert len(scans) == 1, scans
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr

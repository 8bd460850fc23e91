"""Process start-up: one scan of the installed distributions per process instead of one per library.

transformers (``transformers/utils/import_utils.py``) and diffusers (``diffusers/utils/import_utils.py``) each call
``importlib.metadata.packages_distributions()`` when they are imported. For every installed distribution without a
``top_level.txt`` it parses the file list (``RECORD``): 1.3-2 CPU-s in this project's environment (cmake, pandas,
scipy, numpy, wandb... ship thousands of files each). Every motionvla command that builds a model imports both
libraries, so the second scan repeats the first. ``remember_installed_distributions`` makes the standard function
compute its answer once per process: the same function and the same answer, each caller getting its own copy, so
no caller can change what another sees. It must run before either library is imported (``motionvla/__init__.py``).

A distribution installed while the process runs would not show up in a later call; both libraries keep their first
answer for the life of the process anyway.
"""

from __future__ import annotations

import functools
import importlib.metadata

_MARK = "_motionvla_remembered"


def remember_installed_distributions() -> None:
    """Replace ``importlib.metadata.packages_distributions`` by a once-per-process version (idempotent)."""
    original = importlib.metadata.packages_distributions
    if getattr(original, _MARK, False):
        return
    scan = functools.cache(original)

    @functools.wraps(original)
    def packages_distributions() -> dict[str, list[str]]:
        return {name: list(dists) for name, dists in scan().items()}

    setattr(packages_distributions, _MARK, True)
    importlib.metadata.packages_distributions = packages_distributions

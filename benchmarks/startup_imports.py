"""CPU seconds a fresh interpreter spends importing what a model-loading motionvla command imports, with and without
motionvla's start-up (one installed-distributions scan per process instead of one per library:
``motionvla/utils/startup.py``). Runs the two commands alternately, ``--runs`` times each, and prints the CPU
seconds (user + system, this process's children) of each and their ratio.

    .venv/bin/python benchmarks/startup_imports.py --runs=5

"without" imports transformers and diffusers (each scans the installed packages at import); "with" imports
``motionvla`` first, as every ``motionvla`` command does. Both then import the same libraries.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

LIBRARIES = "import transformers, diffusers, diffusers.optimization"
COMMANDS = {"without": LIBRARIES, "with": "import motionvla; " + LIBRARIES}


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(code: str) -> float:
    """CPU-s (user + system) of one fresh interpreter running ``code``."""
    before = children_cpu_s()
    subprocess.run([sys.executable, "-c", code], check=True)
    return children_cpu_s() - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command, alternated (default 5)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be at least 1 (got {args.runs})")
    cpu_seconds(LIBRARIES)  # warm the file cache once, so the first measured run is not the odd one out
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, code in COMMANDS.items():
            times[name].append(cpu_seconds(code))
    for name, values in times.items():
        print(f"{name:>8} motionvla's start-up: median {statistics.median(values):.2f} CPU-s "
              f"(runs: {', '.join(f'{v:.2f}' for v in values)})")
    ratio = statistics.median(times["with"]) / statistics.median(times["without"])
    print(f"with / without: {ratio:.3f} (medians; {args.runs} runs each, alternated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

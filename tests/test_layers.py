"""The layers of DESIGN.md hold (import-linter's contracts in pyproject.toml) and no module imports itself back."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in proc.stdout


def test_no_import_cycles_between_modules():
    import grimp

    graph = grimp.build_graph("motionvla", "data_prep", "sim_envs")
    cycles = sorted({" -> ".join(chain) for module in graph.modules
                     for dep in graph.find_modules_directly_imported_by(module)
                     if (chain := graph.find_shortest_chain(importer=dep, imported=module))})
    assert not cycles, cycles

"""benchmarks/gpu_check.py on the CPU with tiny shapes: every part runs the code path the GPU run will, and a part
that raises is recorded while the others still run."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def errors_in(value: Any, path: str = "") -> list[str]:
    """Every ``error`` key anywhere in the result, with where it is."""
    if not isinstance(value, dict):
        return []
    found = [f"{path}: {value['error']}"] if "error" in value else []
    return found + [e for k, v in value.items() for e in errors_in(v, f"{path}/{k}")]


def test_tiny_run_measures_every_part(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device=cpu", "--steps=2", f"--json={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)  # stdout is the one JSON object and nothing else
    assert json.loads(out.read_text()) == result and not Path(f"{out}.tmp").exists()
    parts = load_script().PARTS
    assert set(parts) <= set(result), sorted(result)
    assert errors_in(result) == [] and result["failed_parts"] == []
    assert result["tiny"] is True and result["env"]["torch"] and result["env"]["transformers"] and result["wall_s"] > 0

    for name in ("qwen_dual_head", "pi05_motion", "fofpred_3b"):
        assert result[name]["shapes"]["batch_size"] == 2
        for precision in result["precisions"]:
            figures = result[name][precision]
            assert figures["step_s"] > 0 and figures["steps_per_s"] > 0, (name, figures)
            assert figures["parameters"] >= figures["trained_parameters"] > 0, (name, figures)
            assert math.isfinite(figures["loss"]), (name, figures)
    # The forecaster trains its DiT only: the Qwen encoder and the VAE stay frozen.
    fof = result["fofpred_3b"]["bf16"]
    assert fof["trained_parameters"] < fof["parameters"]

    tiny = result["tiny_policy"]["cpu"]
    assert tiny["train_steps_per_s"] > 0 and tiny["chunk_latency_ms"] > 0 and tiny["parameters"] > 0
    assert tiny["shapes"]["inference_batch"] == 1

    moe = result["llep_layer"]
    assert moe["fwd_bwd_ms"] > 0 and moe["expert_loop_fwd_ms"] > 0 and moe["shapes"]["experts"] > 0
    assert isinstance(moe["torch_grouped_mm"], bool)


def test_a_failing_part_is_recorded_and_the_rest_still_run(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    script = load_script()
    code = script.main(["--tiny", "--device=cpu", "--parts=qwen_dual_head,llep_layer", "--fail_part=qwen_dual_head",
                        f"--json={out}"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads(out.read_text())
    assert result["failed_parts"] == ["qwen_dual_head"]
    assert result["qwen_dual_head"]["error"].startswith("RuntimeError: injected failure")
    assert "error" not in result["llep_layer"] and result["llep_layer"]["fwd_bwd_ms"] > 0
    assert "pi05_motion" not in result  # only the parts asked for

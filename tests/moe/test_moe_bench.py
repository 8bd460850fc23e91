"""`motionvla moe-bench` at a tiny size: it runs, measures every rank and is exact."""

import json

import pytest

from motionvla.cli import moe_bench


@pytest.mark.multiprocess
@pytest.mark.timeout(120)
def test_bench_runs_and_reports(tmp_path, capsys):
    cfg = moe_bench.Config(
        num_processes=2, num_experts=8, top_k=2, hidden_size=24, expert_hidden_size=20, tokens_per_rank=96,
        scenarios="balanced,95:1", min_tokens=8, repeats=1,
        json=str(tmp_path / "bench.json"), plot=str(tmp_path / "bench.png"),
    )
    rows = moe_bench.run(cfg)
    assert {(r["scenario"], r["dispatcher"]) for r in rows} == {
        (s, d) for s in ("balanced", "95%/1hot") for d in ("ep", "llep")
    }
    by = {(r["scenario"], r["dispatcher"]): r for r in rows}
    for row in rows:
        assert row["max_abs_diff_output"] <= 1e-5 and row["max_abs_diff_grad"] <= 1e-5
        assert sum(row["device_loads"]) == 2 * 96 * 2
        assert row["critical_path_ms"] > 0 and row["peak_memory_mb_max"] >= 0
    assert by[("95%/1hot", "ep")]["max_mean_load"] > 1.5
    assert by[("95%/1hot", "llep")]["max_mean_load"] < 1.15
    assert by[("95%/1hot", "llep")]["borrowed_experts"] > 0
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert len(saved["rows"]) == 4 and saved["config"]["num_processes"] == 2
    assert (tmp_path / "bench.png").stat().st_size > 0
    assert "95%/1hot" in capsys.readouterr().out


def test_bad_options_are_user_errors():
    from motionvla.errors import UserError

    with pytest.raises(UserError, match="multiple of num_processes"):
        moe_bench.run(moe_bench.Config(num_processes=3, num_experts=8))
    with pytest.raises(UserError, match="unknown dispatcher"):
        moe_bench.run(moe_bench.Config(dispatchers="ep,fast"))
    with pytest.raises(UserError, match="scenario"):
        moe_bench.run(moe_bench.Config(scenarios="97:x"))


def test_table_says_n_a_where_the_reference_row_was_not_run():
    """With one imbalanced scenario and no balanced one, LLEP's speedup over EP is computed; the memory ratio to the
    balanced run has no reference and reads n/a (not "nanx")."""
    from motionvla.cli.moe_bench import format_table

    row = {"max_mean_load": 1.0, "end_to_end_ms": 20.0, "peak_memory_mb_max": 57.0, "max_abs_diff_output": 0.0,
           "max_abs_diff_grad": 0.0}
    rows = [{**row, "scenario": "95%/1hot", "dispatcher": "ep", "critical_path_ms": 34.0},
            {**row, "scenario": "95%/1hot", "dispatcher": "llep", "critical_path_ms": 17.0}]
    lines = format_table(rows).splitlines()
    assert "2.00x" in lines[2] and "1.00x" in lines[1]
    assert all("n/a" in line and "nan" not in line for line in lines[1:])

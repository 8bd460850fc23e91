"""`motionvla moe-sim`: config parsing, tables, JSON, plot, paper comparison, user errors."""

from __future__ import annotations

import json

import pytest

from motionvla.cli import moe_sim
from motionvla.configs import parse_config
from motionvla.errors import UserError


def test_config_parses_lists_and_flags():
    argv = ["--devices=8,16", "--transfer-aware", "--intra_node_first", "--scenarios", "95:1"]
    cfg = parse_config(moe_sim.Config, argv)
    assert cfg.devices == "8,16" and cfg.transfer_aware and cfg.intra_node_first
    assert moe_sim.variant_names(cfg) == ("LLEP", "LLEP+transfer-aware", "LLEP+intra-node-first", "LLEP+both")
    assert moe_sim.resolve_shape(cfg).num_experts == 128
    # A lone 95:1 must reach the config as the string "95:1" (not YAML 1.1's base-60 integer).
    for text in ("95:1", "30:16"):
        cfg = parse_config(moe_sim.Config, [f"--scenarios={text}"])
        assert [s.name for s in moe_sim.parse_scenarios(cfg.scenarios)] == [moe_sim.Scenario.parse(text).name]


def test_run_writes_table_json_and_plot(tmp_path, capsys):
    cfg = moe_sim.Config(
        model="deepseek-v3",
        devices="8,16",
        scenarios="balanced,95:1",
        tokens_per_device=2048,
        intra_node_first=True,
        json=str(tmp_path / "out" / "sim.json"),
        plot=str(tmp_path / "out" / "sim.png"),
    )
    result = moe_sim.run(cfg)
    text = capsys.readouterr().out
    assert "LLEP+intra-node-first" in text and "95%/1hot" in text and "latency ms" in text
    rows = result["rows"]
    assert len(rows) == 2 * 2 * 3  # devices x scenarios x (EP, LLEP, LLEP+intra-node-first)
    saved = json.loads((tmp_path / "out" / "sim.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(rows)) and saved["hardware"]["name"] == "h200-sxm"
    assert (tmp_path / "out" / "sim.png").stat().st_size > 10_000
    ep = next(r for r in rows if r["devices"] == 8 and r["scenario"] == "95%/1hot" and r["variant"] == "EP")
    assert ep["speedup_vs_ep"] == 1.0 and ep["imbalance"] > 7


def test_compare_paper(capsys):
    result = moe_sim.run(moe_sim.Config(compare_paper=True))
    text = capsys.readouterr().out
    assert "paper" in text and "kimi-k2" in text
    rows = {r["model"]: r for r in result["paper_comparison"]}
    assert set(rows) == {"gpt-oss-120b", "deepseek-v3", "kimi-k2"}
    assert rows["gpt-oss-120b"]["paper_95_1_speedup"] == 6.1
    for row in rows.values():
        assert row["95_1_speedup"] > 3 and 0.9 < row["balanced_speedup"] <= 1.0


def test_custom_shape_and_overrides():
    shape = dict(num_experts=16, top_k=2, hidden=1024, expert_hidden=512)
    cfg = moe_sim.Config(model="custom", devices="4", scenarios="80:1", **shape)
    assert moe_sim.resolve_shape(cfg).name == "custom"
    assert len(moe_sim.run(cfg)["rows"]) == 2
    override = moe_sim.resolve_shape(moe_sim.Config(model="kimi-k2", top_k=4))
    assert override.top_k == 4 and override.num_experts == 384 and override.name == "kimi-k2*"


def test_devices_that_do_not_divide_are_skipped(capsys):
    result = moe_sim.run(moe_sim.Config(devices="8,256", scenarios="95:1", tokens_per_device=1024))
    assert "skipped 256 devices" in capsys.readouterr().out
    assert {r["devices"] for r in result["rows"]} == {8}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": "gpt-5"}, "unknown model"),
        ({"model": "custom"}, "needs --num_experts"),
        ({"scenarios": "95%"}, "bad scenario"),
        ({"devices": "eight"}, "comma-separated integers"),
        ({"devices": "256"}, "no device count"),
        ({"hardware": "b200"}, "unknown hardware"),
        ({"alpha": 0.5}, "alpha"),
        ({"hot_placement": "middle"}, "hot_placement"),
        ({"tokens_per_device": 0}, "tokens_per_device"),
    ],
)
def test_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        moe_sim.run(moe_sim.Config(**kwargs))

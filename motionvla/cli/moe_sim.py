"""`motionvla moe-sim`: predict EP vs LLEP latency and peak memory of one MoE layer.

Runs the real planner (``motionvla.moe.planner``) on synthetic routing and feeds its plans to the
analytic model in ``motionvla.moe.simulator`` with a hardware profile from ``motionvla.moe.hardware``.
No GPU needed; 256 devices take well under a second per scenario.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionvla.configs.parsing import config_to_dict, format_config
from motionvla.errors import UserError
from motionvla.moe.hardware import PROFILES, HardwareProfile, get_profile
from motionvla.moe.simulator import (
    MODEL_PRESETS,
    PAPER_BALANCED_SPEEDUP,
    PAPER_EP_PEAK_GB_95,
    PAPER_LAYER_SPEEDUP_95_1,
    PAPER_LLEP_PEAK_GB,
    PAPER_SCENARIOS,
    LayerEstimate,
    MoEShape,
    Scenario,
    routing_counts,
    simulate,
)
from motionvla.moe.planner import plan_llep


@dataclass
class Config:
    """Predict one MoE layer's latency and peak memory per device under EP and LLEP.

    Scenarios: `balanced` or PERCENT:NUM_HOT (e.g. 95:1 = 95% of tokens on 1 hot expert), comma-
    separated, or `paper` for the paper's 13 (balanced + 30/50/80/95% on 16/4/1 hot experts).
    --transfer_aware / --intra_node_first / --align_ranges add rows for the planner extensions
    (beyond the paper; with all three, a row with all of them).
    --compare_paper prints the paper's 8-GPU layer table next to the prediction instead.
    """

    # gpt-oss-120b, deepseek-v3, kimi-k2, or custom (then set the four shape fields).
    model: str = "gpt-oss-120b"
    # Shape fields: 0 = take the preset's value.
    num_experts: int = 0
    top_k: int = 0
    hidden: int = 0
    expert_hidden: int = 0
    tokens_per_device: int = 32768
    dtype_bytes: int = 2
    # Comma-separated device counts (each must divide num_experts), e.g. 8,16,32,64.
    devices: str = "8"
    devices_per_node: int = 8
    hardware: str = "h200-sxm"
    scenarios: str = "paper"
    # Hot experts: first = experts 0..n-1 (the paper's benchmark: one device), spread = evenly spaced.
    hot_placement: str = "first"
    alpha: float = 1.0
    min_tokens: int = 1024
    imbalance_threshold: float = 1.3
    transfer_aware: bool = False
    intra_node_first: bool = False
    # Lay out a split expert's token ranges in device order (fewer tokens cross links).
    align_ranges: bool = False
    # Forward + backward instead of forward only.
    backward: bool = False
    # Weight transfers overlap the token all-to-all (max); false = they add up.
    overlap_weights: bool = True
    # Print the paper's 8-GPU layer table (3 presets, balanced and 95:1) next to the prediction; uses
    # hardware, tokens_per_device and the LLEP hyper-parameters, not model/devices/scenarios.
    compare_paper: bool = False
    # Write every result as JSON here.
    json: str = ""
    # Save a PNG: speedup per scenario, and per-device loads EP vs LLEP.
    plot: str = ""


def resolve_shape(cfg: Config) -> MoEShape:
    """The model shape: a preset with any non-zero shape field overriding it, or a custom shape."""
    overrides = {
        "num_experts": cfg.num_experts,
        "top_k": cfg.top_k,
        "hidden": cfg.hidden,
        "expert_hidden": cfg.expert_hidden,
    }
    if any(value < 0 for value in overrides.values()):
        raise UserError("shape fields must be >= 0 (0 = the preset's value)")
    if cfg.model == "custom":
        missing = [name for name, value in overrides.items() if value == 0]
        if missing:
            raise UserError(f"--model=custom needs {', '.join('--' + name for name in missing)}")
        return MoEShape(name="custom", **overrides)
    if cfg.model not in MODEL_PRESETS:
        raise UserError(f"unknown model {cfg.model!r}; accepted: {', '.join(MODEL_PRESETS)}, custom")
    preset = MODEL_PRESETS[cfg.model]
    changed = {name: value for name, value in overrides.items() if value}
    if not changed:
        return preset
    return dataclasses.replace(preset, name=preset.name + "*", **changed)


def parse_scenarios(text: str) -> list[Scenario]:
    if text.strip().lower() == "paper":
        return list(PAPER_SCENARIOS)
    try:
        return [Scenario.parse(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise UserError(str(exc)) from None


def parse_devices(text: str) -> list[int]:
    try:
        devices = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise UserError(f"--devices must be comma-separated integers, got {text!r}") from None
    if not devices or min(devices) < 1:
        raise UserError(f"--devices needs at least one positive device count, got {text!r}")
    return devices


def variant_names(cfg: Config) -> tuple[str, ...]:
    names = ["LLEP"]
    if cfg.transfer_aware:
        names.append("LLEP+transfer-aware")
    if cfg.intra_node_first:
        names.append("LLEP+intra-node-first")
    if cfg.transfer_aware and cfg.intra_node_first:
        names.append("LLEP+both")
    if cfg.align_ranges:
        names.append("LLEP+aligned")
        if cfg.transfer_aware and cfg.intra_node_first:
            names.append("LLEP+all")
    return tuple(names)


def _check(cfg: Config) -> HardwareProfile:
    try:
        hw = get_profile(cfg.hardware)
    except ValueError:
        raise UserError(f"unknown hardware {cfg.hardware!r}; accepted: {', '.join(PROFILES)}") from None
    if cfg.tokens_per_device < 1 or cfg.dtype_bytes < 1 or cfg.devices_per_node < 1:
        raise UserError("tokens_per_device, dtype_bytes and devices_per_node must be >= 1")
    if cfg.alpha < 1.0:
        raise UserError(f"--alpha must be >= 1, got {cfg.alpha}")
    if cfg.hot_placement not in ("first", "spread"):
        raise UserError(f"--hot_placement must be first or spread, got {cfg.hot_placement!r}")
    return hw


def _row(model: str, devices: int, scenario: Scenario, tokens: int, est: LayerEstimate, ep: LayerEstimate) -> dict:
    return {
        "model": model,
        "devices": devices,
        "scenario": scenario.name,
        "tokens_per_device": tokens,
        "variant": est.label,
        "speedup_vs_ep": ep.latency_s / est.latency_s,
        **est.summary(),
    }


def simulate_grid(cfg: Config, hw: HardwareProfile) -> tuple[list[dict], dict]:
    """Every (devices, scenario, variant) row, and what the plot needs."""
    shape = resolve_shape(cfg)
    scenarios = parse_scenarios(cfg.scenarios)
    devices = parse_devices(cfg.devices)
    usable = [p for p in devices if shape.num_experts % p == 0]
    for p in devices:
        if p not in usable:
            print(f"skipped {p} devices: {shape.num_experts} experts do not divide over them")
    if not usable:
        raise UserError(f"no device count in {cfg.devices!r} divides {shape.num_experts} experts")
    rows: list[dict] = []
    for num_devices in usable:
        for scenario in scenarios:
            results = simulate(
                shape,
                scenario,
                num_devices,
                cfg.tokens_per_device,
                hw,
                devices_per_node=cfg.devices_per_node,
                dtype_bytes=cfg.dtype_bytes,
                alpha=cfg.alpha,
                min_tokens=cfg.min_tokens,
                imbalance_threshold=cfg.imbalance_threshold,
                variants=variant_names(cfg),
                hot_placement=cfg.hot_placement,
                backward=cfg.backward,
                overlap_weights=cfg.overlap_weights,
            )
            ep = results["EP"]
            for est in results.values():
                rows.append(_row(shape.name, num_devices, scenario, cfg.tokens_per_device, est, ep))
    return rows, {"shape": shape, "scenarios": scenarios, "devices": usable}


def format_table(rows: list[dict], hbm_gb: float) -> str:
    header = (
        f"{'P':>4} {'scenario':<13} {'variant':<22} {'latency ms':>11} {'speedup':>8} {'max/mean':>9} "
        f"{'transfers':>9} {'x-node GB':>10} {'peak GB':>8}"
    )
    lines = [header, "-" * len(header)]
    previous = None
    for row in rows:
        key = (row["devices"], row["scenario"])
        if previous is not None and key != previous:
            lines.append("")
        previous = key
        over = " OOM" if row["peak_memory_gb"] > hbm_gb else ""
        lines.append(
            f"{row['devices']:>4} {row['scenario']:<13} {row['variant']:<22} {row['latency_ms']:>11.2f} "
            f"{row['speedup_vs_ep']:>7.2f}x {row['imbalance']:>9.2f} {row['num_transfers']:>9} "
            f"{row['inter_node_gb']:>10.2f} {row['peak_memory_gb']:>8.1f}{over}"
        )
    return "\n".join(lines)


def paper_comparison(cfg: Config, hw: HardwareProfile) -> list[dict]:
    """The three presets on 8 devices (one node), forward: balanced and 95% on 1 hot expert."""
    rows = []
    for name, shape in MODEL_PRESETS.items():
        row: dict = {"model": name}
        for scenario in (Scenario(), Scenario(0.95, 1)):
            results = simulate(
                shape,
                scenario,
                8,
                cfg.tokens_per_device,
                hw,
                devices_per_node=8,
                dtype_bytes=cfg.dtype_bytes,
                alpha=cfg.alpha,
                min_tokens=cfg.min_tokens,
                imbalance_threshold=cfg.imbalance_threshold,
                hot_placement="first",
                overlap_weights=cfg.overlap_weights,
            )
            ep, llep = results["EP"], results["LLEP"]
            tag = "balanced" if scenario.num_hot == 0 else "95_1"
            row[f"{tag}_ep_ms"] = ep.latency_s * 1e3
            row[f"{tag}_llep_ms"] = llep.latency_s * 1e3
            row[f"{tag}_speedup"] = ep.latency_s / llep.latency_s
            row[f"{tag}_ep_peak_gb"] = float(ep.peak_memory.max()) / 1e9
            row[f"{tag}_llep_peak_gb"] = float(llep.peak_memory.max()) / 1e9
        row["paper_95_1_speedup"] = PAPER_LAYER_SPEEDUP_95_1[name]
        rows.append(row)
    return rows


def format_paper_table(rows: list[dict], cfg: Config, hw: HardwareProfile) -> str:
    lo, hi = PAPER_BALANCED_SPEEDUP
    ep_lo, ep_hi = PAPER_EP_PEAK_GB_95
    ll_lo, ll_hi = PAPER_LLEP_PEAK_GB
    lines = [
        f"8 x {hw.name}, forward, {cfg.tokens_per_device} tokens per GPU, alpha={cfg.alpha}, "
        f"min_tokens={cfg.min_tokens}, threshold={cfg.imbalance_threshold}",
        f"{'model':<14} {'95%/1: EP ms':>12} {'LLEP ms':>8} {'speedup':>8} {'paper':>6} | "
        f"{'balanced':>8} {'paper':>11} | "
        f"{'EP peak GB':>10} {'paper':>7} | {'LLEP peak GB':>12} {'paper':>7}",
    ]
    lines.append("-" * len(lines[1]))
    for row in rows:
        lines.append(
            f"{row['model']:<14} {row['95_1_ep_ms']:>12.1f} {row['95_1_llep_ms']:>8.1f} {row['95_1_speedup']:>7.2f}x "
            f"{row['paper_95_1_speedup']:>5.1f}x | {row['balanced_speedup']:>7.2f}x {f'{lo:.2f}-{hi:.2f}x':>11} | "
            f"{row['95_1_ep_peak_gb']:>10.1f} {f'{ep_lo:.0f}-{ep_hi:.0f}':>7} | "
            f"{row['95_1_llep_peak_gb']:>12.1f} {f'{ll_lo:.0f}-{ll_hi:.0f}':>7}"
        )
    lines.append(
        "paper: REFERENCE.md section 3 (arXiv 2601.17111); peak memory is given there only as ranges over models"
    )
    return "\n".join(lines)


def save_plot(path: str, cfg: Config, hw: HardwareProfile, rows: list[dict], info: dict) -> Path:
    """Left: speedup over EP per scenario (one bar per device count and variant). Right: tokens per
    device under EP and LLEP for the most imbalanced scenario at the first device count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shape: MoEShape = info["shape"]
    scenarios: list[Scenario] = info["scenarios"]
    names = [s.name for s in scenarios]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [1.3, 1]})
    series = [(p, variant) for p in info["devices"] for variant in variant_names(cfg)]
    width = 0.8 / len(series)
    for i, (num_devices, variant) in enumerate(series):
        speedup = {(r["devices"], r["scenario"], r["variant"]): r["speedup_vs_ep"] for r in rows}
        values = [speedup[(num_devices, n, variant)] for n in names]
        offsets = np.arange(len(names)) + (i - (len(series) - 1) / 2) * width
        left.bar(offsets, values, width, label=f"{variant}, P={num_devices}")
    left.axhline(1.0, color="gray", lw=0.8, ls="--")
    left.set_xticks(range(len(names)), names, rotation=45, ha="right")
    left.set_ylabel("predicted speedup over EP (x)")
    left.set_title(f"{shape.name}, {cfg.tokens_per_device} tokens/GPU, {hw.name}")
    left.legend(fontsize=8)
    left.grid(alpha=0.3, axis="y")

    num_devices = info["devices"][0]
    ep_rows = [r for r in rows if r["devices"] == num_devices and r["variant"] == "EP"]
    worst = max(ep_rows, key=lambda r: r["imbalance"])
    scenario = next(s for s in scenarios if s.name == worst["scenario"])
    counts = routing_counts(shape, num_devices, cfg.tokens_per_device, scenario, cfg.hot_placement)
    loads = counts.sum(0)
    plan = plan_llep(
        loads, num_devices, cfg.alpha, cfg.min_tokens, cfg.imbalance_threshold, devices_per_node=cfg.devices_per_node
    )
    x = np.arange(num_devices)
    width = 0.4
    right.bar(x - width / 2, plan.native_loads, width, label="EP")
    right.bar(x + width / 2, plan.device_loads, width, label="LLEP")
    right.axhline(plan.capacity, color="black", lw=0.8, ls="--", label=f"LLEP cap (alpha={cfg.alpha})")
    right.set_yscale("log")
    right.set_xlabel("device")
    right.set_ylabel("rows computed (token x top-k)")
    right.set_title(f"per-device load, {scenario.name}, P={num_devices}")
    right.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def run(cfg: Config) -> dict:
    print(format_config(cfg))
    hw = _check(cfg)
    result: dict = {"config": config_to_dict(cfg), "hardware": dataclasses.asdict(hw)}
    if cfg.compare_paper:
        paper = paper_comparison(cfg, hw)
        print(format_paper_table(paper, cfg, hw))
        result["paper_comparison"] = paper
    else:
        rows, info = simulate_grid(cfg, hw)
        shape = info["shape"]
        pass_name = "forward+backward" if cfg.backward else "forward"
        print(
            f"{shape.name}: {shape.num_experts} experts, top-{shape.top_k}, D={shape.hidden}, H={shape.expert_hidden}; "
            f"{cfg.tokens_per_device} tokens/device, {cfg.devices_per_node} devices/node, {hw.name}, {pass_name}\n"
        )
        print(format_table(rows, hw.hbm_bytes / 1e9))
        result["rows"] = rows
        if cfg.plot:
            print(f"\nplot: {save_plot(cfg.plot, cfg, hw, rows, info)}")
    if cfg.json:
        path = Path(cfg.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"json: {path}")
    return result


if __name__ == "__main__":  # `python -m motionvla.cli.moe_sim ...`, same as `motionvla moe-sim ...`
    import sys

    from motionvla.configs import parse_config

    try:
        run(parse_config(Config, sys.argv[1:]))
    except UserError as exc:
        print(f"motionvla moe-sim: error: {exc}", file=sys.stderr)
        sys.exit(2)

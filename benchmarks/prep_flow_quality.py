"""Data-prep flow quality: end-point error of the stored flow against synthetic ground truth, end to end.

    .venv/bin/python benchmarks/prep_flow_quality.py             # 24 videos x 24 frames, 256x256
    .venv/bin/python benchmarks/prep_flow_quality.py --quick     # 3 videos at 128x128: checks the script works
    .venv/bin/python benchmarks/prep_flow_quality.py --json /tmp/prep_flow_quality.json

Two synthetic sets (``data_prep.synth``) are generated into a temporary folder, each run through the real
pipeline (``run_prep``, prep ``size`` and ``fps`` equal to the set's, so a sample's ``meta["t0"]`` is a
ground-truth frame index), and read back with ``FlowShardDataset``: a sample's ``flow`` (K, 2, H, W) is
compared with the ground truth of pairs t0 .. t0+K-1 of its video (EPE, pixel-weighted over all samples).

- static camera: DIS ultrafast / fast / medium and Farneback with ``relative=False`` (the stored flow is
  the raw estimate) and every clip kept, against ``total`` flow, on all pixels and on moving pixels
  (``moving_mask``);
- camera motion (every video gets pan, zoom or roll): the object's motion (``object`` flow) on the
  mover's pixels (``mover_mask``) and on background pixels (not ``moving_mask``), with relative flow
  (``relative=True``, camera and motion filters off so every clip is kept) and without (``relative=False``:
  the stored total flow against the same object flow), overall and per camera-motion kind, with the
  camera fit's inlier ratio and residual (``stats.json``, and per kind from the samples' ``meta["camera"]``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

# "-1" = the preset's own finest scale (medium: half resolution); prep's default is full resolution (0).
METHODS = {"dis ultrafast": {"flow": "dis", "dis_preset": "ultrafast", "dis_finest_scale": -1},
           "dis fast": {"flow": "dis", "dis_preset": "fast", "dis_finest_scale": -1},
           "dis medium": {"flow": "dis", "dis_preset": "medium", "dis_finest_scale": -1},
           "dis medium full-res": {"flow": "dis", "dis_preset": "medium", "dis_finest_scale": 0},
           "farneback": {"flow": "farneback"}}
KEEP_ALL = {"min_moving_fraction": 0.0, "min_inlier_ratio": 0.0, "max_camera_residual_px": 1e9}


class EpeMean:
    """Pixel-weighted mean EPE per key, accumulated over samples."""

    def __init__(self) -> None:
        self.sum: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)

    def add(self, key: str, pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> None:
        from motionvla.flow import end_point_error

        pixels = int(mask.sum())
        if pixels:
            self.sum[key] += end_point_error(pred, target, mask=mask) * pixels
            self.count[key] += pixels

    def mean(self, key: str) -> float:
        return self.sum[key] / self.count[key] if self.count[key] else float("nan")


def generate_set(root: Path, args: argparse.Namespace, camera_motion: str) -> Path:
    from data_prep.synth import SynthVideosConfig, synth_videos

    with contextlib.redirect_stderr(io.StringIO()):  # synth_videos' progress bar
        synth_videos(SynthVideosConfig(out=str(root), videos=args.videos, size=args.size, frames=args.frames,
                                       fps=args.fps, camera_motion=camera_motion, camera_motion_fraction=1.0))
    return root


def run_pipeline(synth: Path, out: Path, args: argparse.Namespace, **overrides: Any) -> dict:
    from data_prep.config import PrepConfig
    from data_prep.runner import run_prep

    cfg = PrepConfig(source="manifest", input=str(synth / "manifest.jsonl"), out=str(out), fps=args.fps,
                     size=args.size, workers=args.workers, progress=False, **overrides)
    summary = run_prep(cfg)
    frames = {r["frames"] for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()) if "frames" in r}
    if frames != {args.frames}:  # decoded frames must be the synth frames, or t0 is no ground-truth index
        print(f"WARNING: {out.name}: decoded frame counts {sorted(frames)} != synth frames {args.frames}")
    return {**summary, "out": out, "stats_json": json.loads((out / "stats.json").read_text())}


def samples_with_truth(out: Path, synth: Path):
    """(sample, ground truth, slice of the sample's future pairs) for every stored sample."""
    from data_prep.reader import FlowShardDataset
    from data_prep.synth import load_ground_truth

    truth: dict[str, Any] = {}
    for sample in FlowShardDataset(out):
        vid = sample["meta"]["video_id"]
        if vid not in truth:
            truth[vid] = load_ground_truth(synth, vid)
        t0, k = sample["meta"]["t0"], sample["flow"].shape[0]
        yield sample, truth[vid], slice(t0, t0 + k)


def static_quality(synth: Path, tmp: Path, args: argparse.Namespace) -> dict:
    rows = {}
    for name, method in METHODS.items():
        summary = run_pipeline(synth, tmp / f"static_{name.replace(' ', '_')}", args, relative=False,
                               min_moving_fraction=0.0, **method)
        epe = EpeMean()
        for sample, gt, pairs in samples_with_truth(summary["out"], synth):
            flow, total = sample["flow"].numpy(), gt.total[pairs]
            epe.add("all", flow, total, np.ones(total.shape[:1] + total.shape[2:], bool))
            epe.add("moving", flow, total, gt.moving_mask[pairs])
        rows[name] = {"samples": summary["samples"], "epe_all": epe.mean("all"), "epe_moving": epe.mean("moving"),
                      "seconds": summary["seconds"]}
    return rows


def camera_quality(synth: Path, tmp: Path, args: argparse.Namespace, name: str) -> dict:
    method = METHODS[name]
    tag = name.replace(" ", "_")
    runs = {"relative": run_pipeline(synth, tmp / f"camera_relative_{tag}", args, relative=True, **KEEP_ALL, **method),
            "total": run_pipeline(synth, tmp / f"camera_total_{tag}", args, relative=False, **KEEP_ALL, **method)}
    epe = EpeMean()
    clips: dict[str, int] = defaultdict(int)
    fits: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for which, summary in runs.items():
        for sample, gt, pairs in samples_with_truth(summary["out"], synth):
            kind = gt.scene["camera_motion"]
            flow, target = sample["flow"].numpy(), gt.object[pairs]
            for group in ("all", kind):
                epe.add(f"{which}/mover/{group}", flow, target, gt.mover_mask[pairs])
                epe.add(f"{which}/background/{group}", flow, target, ~gt.moving_mask[pairs])
            if which == "relative":
                clips[kind] += 1
                fits[kind] += [(c["inlier_ratio"], c["residual_px"]) for c in sample["meta"]["camera"]]
    rows = {}
    for group in ["all", *sorted(clips)]:
        row = {"clips": sum(clips.values()) if group == "all" else clips[group]}
        for region in ("mover", "background"):
            rel, tot = epe.mean(f"relative/{region}/{group}"), epe.mean(f"total/{region}/{group}")
            row[region] = {"relative": rel, "without": tot, "ratio": rel / tot if tot else float("nan")}
        pairs = [f for kind_fits in fits.values() for f in kind_fits] if group == "all" else fits[group]
        row["inlier_ratio_mean"] = float(np.mean([f[0] for f in pairs])) if pairs else float("nan")
        row["residual_px_median"] = float(np.median([f[1] for f in pairs])) if pairs else float("nan")
        rows[group] = row
    stats = runs["relative"]["stats_json"]
    return {"method": name, "by_kind": rows, "kept": {k: r["samples"] for k, r in runs.items()},
            "considered": runs["relative"]["clips"]["considered"],
            "stats_json": {k: stats[k] for k in ("camera_inlier_ratio", "camera_residual_px", "clips")}}


def print_report(result: dict) -> None:
    print("\nstatic camera, relative=False, every clip kept; EPE (px) vs ground-truth total flow")
    print(f"{'method':<16}{'samples':>8}{'EPE all':>9}{'EPE moving':>12}{'prep s':>8}")
    for name, r in result["static"].items():
        print(f"{name:<16}{r['samples']:>8}{r['epe_all']:>9.3f}{r['epe_moving']:>12.3f}{r['seconds']:>8.1f}")

    for cam in result["camera"].values():
        print_camera(cam)


def print_camera(cam: dict) -> None:
    print(f"\ncamera motion ({cam['method']}), every clip kept (relative {cam['kept']['relative']}, without "
          f"{cam['kept']['total']} of {cam['considered']}); EPE (px) vs ground-truth object flow")
    print(f"{'kind':<7}{'clips':>6} | {'mover rel':>9}{'without':>9}{'ratio':>7} | {'bg rel':>7}{'without':>9}"
          f"{'ratio':>7} | {'inliers':>7}{'resid px':>9}")
    for kind, r in cam["by_kind"].items():
        m, b = r["mover"], r["background"]
        print(f"{kind:<7}{r['clips']:>6} | {m['relative']:>9.3f}{m['without']:>9.3f}{m['ratio']:>7.3f} | "
              f"{b['relative']:>7.3f}{b['without']:>9.3f}{b['ratio']:>7.3f} | {r['inlier_ratio_mean']:>7.3f}"
              f"{r['residual_px_median']:>9.3f}")
    print("mover = gt mover_mask (incl. frames before its onset); bg = not gt moving_mask; target: mover ratio <= 0.5")
    print("inliers (mean) / resid px (median) per future pair, from the samples' meta['camera']")
    stats = cam["stats_json"]
    print("stats.json (per video: mean over clips of the clip's lowest inlier ratio; median over clips of its "
          "highest residual), summarised over videos:")
    for key in ("camera_inlier_ratio", "camera_residual_px"):
        print(f"  {key:<20} " + "  ".join(f"{k} {v:.4f}" for k, v in stats[key].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--size", type=int, default=256, help="synth size = prep size (no resizing)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--fps", type=float, default=12.0, help="synth fps = prep fps (frame indices match)")
    parser.add_argument("--methods", default="dis medium,dis medium full-res",
                        help=f"flows for the camera set, comma-separated from: {', '.join(METHODS)}")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny run (3 videos, 128x128, 16 frames)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.videos, args.size, args.frames = 3, 128, 16
    from motionvla.utils.machine import machine_description

    command = " ".join([sys.executable, *sys.argv])
    print("command:", command)
    print("machine:", machine_description())
    print(f"sets: {args.videos} videos x {args.frames} frames, {args.size}x{args.size}, {args.fps:g} fps")
    with tempfile.TemporaryDirectory(prefix="prep_flow_quality_") as tmp_name:
        tmp = Path(tmp_name)
        static = static_quality(generate_set(tmp / "synth_static", args, ""), tmp, args)
        camera_set = generate_set(tmp / "synth_camera", args, "pan,zoom,roll")
        camera = {name: camera_quality(camera_set, tmp, args, name) for name in args.methods.split(",")}
    result = {"command": command, "machine": machine_description(), "static": static, "camera": camera,
              "config": {k: getattr(args, k) for k in ("videos", "size", "frames", "fps", "methods", "quick")}}
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()

"""Data-prep throughput: clips/s of `run_prep` (1 and 2 workers, Ray), stage split, flow-only bound, reader.

    .venv/bin/python benchmarks/prep_speed.py                  # 32 videos x 32 frames, 256x256
    .venv/bin/python benchmarks/prep_speed.py --quick          # 4 videos at 128x128: checks the script works
    .venv/bin/python benchmarks/prep_speed.py --json /tmp/prep_speed.json

A synthetic captioned set (``data_prep.synth``; half the videos with pan/zoom/roll camera motion) is
generated into a temporary folder first, untimed. Then, on that set, at the default prep config (DIS
medium, relative flow, default filters) with ``fps`` and ``size`` equal to the set's:

- the whole pipeline (``run_prep``, a fresh output folder each run) with 1 and 2 local workers and with
  Ray on 2 CPUs, twice: "cold" (``run_prep`` starts and stops Ray, included in its time) and "warm"
  (``ray.init`` beforehand, timed apart, so the run excludes Ray's start-up);
- the 1-worker run's stage split (decode / flow / homography / write, from ``stage_seconds``);
- flow estimation alone (``FlowEstimator``, one process, one OpenCV thread as in the workers) on exactly
  the frame pairs the pipeline estimates, with the frames decoded beforehand (untimed);
- ``FlowShardDataset`` over the 1-worker output, plain and through a DataLoader (2 workers, batch 8).

Clip rates: ``run_prep`` reports kept clips (samples written) per second; flow-only work is per clip
*considered* (kept + filtered), so the pipeline-vs-flow-only fraction uses considered clips on both sides.
Local runs with 2 workers include spawning the pool (each worker imports torch).
Heavy modules are imported inside functions: spawned workers and decoder processes re-import this script.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def generate_set(root: Path, args: argparse.Namespace) -> Path:
    """Writes the synthetic set under ``root``; returns its manifest (the prep input)."""
    from data_prep.synth import SynthVideosConfig, synth_videos

    with contextlib.redirect_stderr(io.StringIO()):  # synth_videos' progress bar
        synth_videos(SynthVideosConfig(out=str(root), videos=args.videos, size=args.size, frames=args.frames,
                                       fps=args.fps, camera_motion=args.camera_motion,
                                       camera_motion_fraction=args.camera_fraction))
    return root / "manifest.jsonl"


def prep_config(manifest: Path, out: Path, args: argparse.Namespace, **overrides: Any):
    from data_prep.config import PrepConfig

    return PrepConfig(source="manifest", input=str(manifest), out=str(out), fps=args.fps, size=args.size,
                      videos_per_shard=args.videos_per_shard, progress=False,
                      dis_finest_scale=args.dis_finest_scale, **overrides)


def pipeline_run(name: str, cfg, extra: dict | None = None) -> dict:
    """One ``run_prep``; the figures of one row of the table."""
    from data_prep.runner import run_prep

    start = time.perf_counter()
    summary = run_prep(cfg)
    wall = time.perf_counter() - start
    seconds = summary["seconds"]
    considered = summary["clips"]["considered"]
    busy = sum(summary["stage_seconds"].values())
    return {"name": name, "workers": cfg.workers, "engine": cfg.engine, "seconds": seconds, "wall_s": round(wall, 3),
            "startup_s": summary["startup_seconds"],
            "kept": summary["samples"], "considered": considered, "clips_per_s": summary["clips_per_s"],
            "considered_per_s": round(ratio(considered, seconds), 3), "stage_seconds": summary["stage_seconds"],
            # stage time summed over workers / (workers x run time): how busy the workers were
            "busy_fraction": round(ratio(busy, cfg.workers * seconds), 3), "bytes_per_sample": summary["bytes_per_sample"],
            "shard_bytes": summary["shard_bytes"], "out": cfg.out, **(extra or {})}


def ray_runs(manifest: Path, tmp: Path, args: argparse.Namespace) -> list[dict]:
    """Ray cold (start-up inside the run) and warm (``ray.init`` beforehand, timed apart)."""
    import ray

    cold = pipeline_run("ray 2 (cold: incl. ray.init)", prep_config(manifest, tmp / "ray_cold", args, workers=2,
                                                                     engine="ray"))
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    init_s = time.perf_counter() - start
    try:
        warm = pipeline_run("ray 2 (warm: ray.init apart)", prep_config(manifest, tmp / "ray_warm", args, workers=2,
                                                                         engine="ray"), {"ray_init_s": round(init_s, 3)})
    finally:
        ray.shutdown()
    return [cold, warm]


def _dis_params(finest_scale: int) -> dict | None:
    """The DIS setters the pipeline uses for ``dis_finest_scale`` (-1 = the preset's own)."""
    return {"FinestScale": finest_scale} if finest_scale >= 0 else None


def _dis_loop(frames, repeats: int, finest_scale: int = -1) -> float:
    import cv2

    from motionvla.flow import FlowEstimator

    cv2.setNumThreads(1)
    estimator = FlowEstimator("dis", dis_preset="medium", dis_params=_dis_params(finest_scale))
    estimator(frames[0], frames[1])
    start = time.perf_counter()
    for _ in range(repeats):
        for i in range(len(frames) - 1):
            estimator(frames[i], frames[i + 1])
    return time.perf_counter() - start


def flow_kernel_scaling(manifest: Path, cfg, repeats: int = 4) -> dict:
    """The ceiling for 2-process scaling on this machine: DIS alone on the same frames, 1 process vs 2 at once
    (no pipeline, no I/O). Two vCPUs need not give twice the compute of one (shared caches, memory, SMT)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from data_prep.decode import DecodeRequest, decode_video
    from data_prep.sources import list_inputs

    item = next(i for i in list_inputs(cfg.source, cfg.input, cfg.labels, 3) if i.verdict is None)
    frames = decode_video(DecodeRequest(item.path, cfg.fps, cfg.size)).frames
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        scale = [cfg.dis_finest_scale] * 2
        list(pool.map(_dis_loop, [frames, frames], [1, 1], scale))  # start both workers (imports) outside the timing
        one = pool.submit(_dis_loop, frames, repeats, cfg.dis_finest_scale).result()
        start = time.perf_counter()
        list(pool.map(_dis_loop, [frames, frames], [repeats, repeats], scale))
        two = time.perf_counter() - start
    pairs = repeats * (len(frames) - 1)
    return {"pairs_per_process": pairs, "one_process_s": round(one, 3), "two_processes_s": round(two, 3),
            "scaling": round(2 * one / two, 3)}


def flow_only(manifest: Path, cfg) -> dict:
    """FlowEstimator alone on the pairs ``VideoProcessor._samples`` estimates, frames decoded beforehand."""
    import cv2

    from data_prep.decode import DecodeRequest, decode_video
    from data_prep.process import clip_starts
    from data_prep.sources import list_inputs
    from motionvla.flow import FlowEstimator

    cv2.setNumThreads(1)  # as VideoProcessor does in every worker
    work = []  # (frames, pair indices, clips) per video
    for item in list_inputs(cfg.source, cfg.input, cfg.labels, cfg.min_caption_chars):
        if item.verdict is not None:
            continue
        req = DecodeRequest(item.path, cfg.fps, cfg.estimation_size, cfg.resize, item.start, item.end,
                            cfg.max_source_pixels)
        frames = decode_video(req).frames
        starts = clip_starts(len(frames), cfg)
        pairs = sorted({i for t0 in starts for i in range(t0 - cfg.frames_in + 1, t0 + cfg.future)})
        work.append((frames, pairs, len(starts)))
    estimator = FlowEstimator(cfg.flow, dis_preset=cfg.dis_preset, dis_params=_dis_params(cfg.dis_finest_scale))
    estimator(work[0][0][0], work[0][0][1])  # warm-up (the pipeline's estimator is built once per worker too)
    start = time.perf_counter()
    for frames, pairs, _ in work:
        for i in pairs:
            estimator(frames[i], frames[i + 1])
    seconds = time.perf_counter() - start
    clips = sum(c for _, _, c in work)
    pairs = sum(len(p) for _, p, _ in work)
    return {"seconds": round(seconds, 3), "clips_considered": clips, "pairs": pairs,
            "clips_per_s": round(clips / seconds, 3), "ms_per_pair": round(1e3 * seconds / pairs, 3)}


def reader_speed(folder: str, shard_bytes: int, loader_workers: int, batch_size: int) -> list[dict]:
    """Samples/s and MB/s (of shard bytes) of FlowShardDataset, plain and through a DataLoader."""
    from torch.utils.data import DataLoader

    from data_prep.reader import FlowShardDataset, collate_flow_samples

    rows = []
    start = time.perf_counter()
    count = sum(1 for _ in FlowShardDataset(folder))
    rows.append(("FlowShardDataset", count, time.perf_counter() - start))
    loader = DataLoader(FlowShardDataset(folder), batch_size=batch_size, num_workers=loader_workers,
                        collate_fn=collate_flow_samples)
    start = time.perf_counter()
    count = sum(len(batch["key"]) for batch in loader)
    rows.append((f"DataLoader({loader_workers} workers, batch {batch_size})", count, time.perf_counter() - start))
    return [{"name": name, "samples": n, "seconds": round(s, 3), "samples_per_s": round(n / s, 2),
             "mb_per_s": round(shard_bytes / 1e6 / s, 2)} for name, n, s in rows]


def print_report(result: dict) -> None:
    runs = result["pipeline"]
    print(f"\npipeline, {result['set']}")
    print("ratios: medians over the interleaved rounds; rows: the round with the median 1-worker rate")
    print(f"{'run':<30}{'start-up':>9}{'seconds':>8}{'kept':>6}{'clips/s':>9}{'consid.':>8}{'consid./s':>10}{'busy':>6}")
    for r in runs:
        print(f"{r['name']:<30}{r['startup_s']:>9.2f}{r['seconds']:>8.2f}{r['kept']:>6}{r['clips_per_s']:>9.2f}"
              f"{r['considered']:>8}{r['considered_per_s']:>10.2f}{r['busy_fraction']:>6.2f}")
    warm = next((r for r in runs if "ray_init_s" in r), None)
    if warm:
        print(f"ray.init(num_cpus=2) alone: {warm['ray_init_s']:.2f} s (outside the warm run's seconds)")
    print("start-up = workers spawned, imports, decoder processes started (ray.init too, cold); seconds = the work "
          "after it, which clips/s divides; busy = stage seconds summed over workers / (workers x seconds)")
    for key, value in result["ratios"].items():
        print(f"{key:<42}{value:>6.3f}")

    stages, total = runs[0]["stage_seconds"], runs[0]["seconds"]
    print(f"\nstage split, 1 worker (total run {total:.2f} s after start-up; decode = waiting for the "
          "decoder process, whose decoding overlaps the previous video's flow; other = run - stages: shard commit, "
          "books, fsyncs)")
    other = total - sum(stages.values())
    for name, sec in [*stages.items(), ("other", other)]:
        print(f"  {name:<12}{sec:>8.2f} s {100 * sec / total:>6.1f} %")

    fo = result["flow_only"]
    print(f"\nflow only ({fo['pairs']} pairs, {fo['ms_per_pair']:.2f} ms/pair, 1 process, 1 cv2 thread): "
          f"{fo['seconds']:.2f} s -> {fo['clips_per_s']:.2f} considered clips/s "
          f"(pipeline's own flow stage: {stages.get('flow', 0):.2f} s)")
    print(f"pipeline 1 worker / flow only, considered clips/s: {runs[0]['considered_per_s']:.2f} / "
          f"{fo['clips_per_s']:.2f} = {result['ratios']['pipeline_1w / flow_only (target >= 0.7)']:.3f}")

    print("\nreader, 1-worker output (warm page cache; the DataLoader's time includes starting its workers)")
    print(f"{'':<36}{'samples':>8}{'seconds':>9}{'samples/s':>10}{'MB/s':>8}")
    for r in result["reader"]:
        print(f"{r['name']:<36}{r['samples']:>8}{r['seconds']:>9.2f}{r['samples_per_s']:>10.1f}{r['mb_per_s']:>8.1f}")
    k = result["flow_kernel_scaling"]
    print(f"\nceiling: DIS alone, {k['pairs_per_process']} pairs per process, 1 process {k['one_process_s']:.2f} s, "
          f"2 processes at once {k['two_processes_s']:.2f} s -> 2-process scaling x{k['scaling']:.3f} on this machine")
    print(f"\nbytes per sample: {runs[0]['bytes_per_sample']:,} ({runs[0]['shard_bytes'] / 1e6:.1f} MB in shards)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="synth size = prep size (no resizing)")
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--fps", type=float, default=12.0, help="synth fps = prep fps (frame indices match)")
    parser.add_argument("--camera-motion", default="pan,zoom,roll")
    parser.add_argument("--camera-fraction", type=float, default=0.5, help="share of videos with camera motion")
    parser.add_argument("--videos-per-shard", type=int, default=16, help="one group (task) per shard (prep default)")
    parser.add_argument("--dis-finest-scale", type=int, default=0,
                        help="prep --dis_finest_scale (0, prep's default: full resolution; -1: DIS medium's own, half)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray runs")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of 1w / 2w / flow-only")
    parser.add_argument("--quick", action="store_true", help="tiny run (4 videos, 128x128, 16 frames)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.videos, args.size, args.frames, args.videos_per_shard, args.repeats = 4, 128, 16, 1, 1
    print("command:", " ".join([sys.executable, *sys.argv]))
    from motionvla.utils.machine import machine_description

    print("machine:", machine_description())

    with tempfile.TemporaryDirectory(prefix="prep_speed_") as tmp_name:
        tmp = Path(tmp_name)
        start = time.perf_counter()
        manifest = generate_set(tmp / "synth", args)
        print(f"synthetic set: {args.videos} videos x {args.frames} frames, {args.size}x{args.size}, camera motion "
              f"{args.camera_motion or 'none'} on {args.camera_fraction:.0%}, generated in "
              f"{time.perf_counter() - start:.1f} s (not timed)")
        # Rounds interleave 1 worker, 2 workers and flow-only, so that a slow spell of this shared machine hits
        # both sides of a ratio; the table shows the median round, the ratios are medians of per-round ratios.
        rounds = []
        for n in range(args.repeats):
            w1 = pipeline_run("local 1 worker", prep_config(manifest, tmp / f"w1_{n}", args, workers=1))
            w2 = pipeline_run("local 2 workers", prep_config(manifest, tmp / f"w2_{n}", args, workers=2))
            fo = flow_only(manifest, prep_config(manifest, tmp / "unused", args))
            rounds.append({"w1": w1, "w2": w2, "fo": fo, "scaling": ratio(w2["clips_per_s"], w1["clips_per_s"]),
                           "vs_flow_only": ratio(w1["considered_per_s"], fo["clips_per_s"])})
            print(f"round {n + 1}: 1w {w1['clips_per_s']:.2f} clips/s, 2w {w2['clips_per_s']:.2f} clips/s "
                  f"(x{rounds[-1]['scaling']:.3f}), flow-only {fo['clips_per_s']:.2f} considered clips/s "
                  f"(pipeline/flow-only {rounds[-1]['vs_flow_only']:.3f})", flush=True)
        middle = sorted(rounds, key=lambda r: r["w1"]["clips_per_s"])[len(rounds) // 2]
        runs = [middle["w1"], middle["w2"]]
        if not args.no_ray:
            runs += ray_runs(manifest, tmp, args)
        one = runs[0]
        ratios = {"local 2w / 1w (target >= 1.7)": statistics.median(r["scaling"] for r in rounds)}
        labels = ["ray 2 cold / 1w", "ray 2 warm / 1w"]
        ratios.update({label: ratio(r["clips_per_s"], one["clips_per_s"]) for label, r in zip(labels, runs[2:])})
        fo = middle["fo"]
        ratios["pipeline_1w / flow_only (target >= 0.7)"] = statistics.median(r["vs_flow_only"] for r in rounds)
        reader = reader_speed(one["out"], one["shard_bytes"], loader_workers=2, batch_size=8)
        kernel = flow_kernel_scaling(manifest, prep_config(manifest, tmp / "unused", args))
    result = {
        "command": " ".join([sys.executable, *sys.argv]), "machine": machine_description(),
        "set": f"{args.videos} videos x {args.frames} frames at {args.size}x{args.size}, {args.fps:g} fps, "
               f"DIS medium (finest scale {args.dis_finest_scale}), relative flow, default filters",
        "pipeline": [{k: v for k, v in r.items() if k != "out"} for r in runs],
        "ratios": {k: round(v, 3) for k, v in ratios.items()}, "flow_only": fo, "reader": reader,
        "flow_kernel_scaling": kernel,
        "rounds": [{"w1_clips_per_s": r["w1"]["clips_per_s"], "w2_clips_per_s": r["w2"]["clips_per_s"],
                    "flow_only_clips_per_s": r["fo"]["clips_per_s"], "scaling": round(r["scaling"], 3),
                    "vs_flow_only": round(r["vs_flow_only"], 3)} for r in rounds],
        "bytes_per_sample": one["bytes_per_sample"],
        "config": {k: getattr(args, k) for k in ("size", "videos", "frames", "fps", "camera_motion", "camera_fraction",
                                                  "videos_per_shard", "quick")},
    }
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()

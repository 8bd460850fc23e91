"""Optical-flow primitives benchmark: flow estimation per frame pair, codec and camera-motion removal.

Usage:
    .venv/bin/python benchmarks/flow_speed.py [--size 256] [--repeats 5] [--threads 1]
        [--raft-weights PATH --raft-variant large]

Frames: a smooth random texture (blurred noise) and the same texture shifted by (3, -2) px, so the
reported EPE is against a known flow (interior, 10 px margin). Timings: median of ``--repeats`` runs
after one warm-up, on however many threads OpenCV / torch use by default. RAFT only with a local
weights file (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import cv2
import numpy as np
import torch

from motionvla.flow import (
    FlowEstimator,
    end_point_error,
    flow_to_motion_image,
    homography_flow,
    motion_image_to_flow,
    remove_camera_motion,
)


def timed(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--raft-weights", default=None)
    ap.add_argument("--raft-variant", default="large")
    ap.add_argument("--threads", type=int, default=0, help="torch and OpenCV threads (0 = their defaults)")
    args = ap.parse_args()
    if args.threads:
        # On a shared, busy machine, fewer threads than cores avoids OpenMP barrier stalls that swamp timings.
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    n, pad, (dx, dy) = args.size, 16, (3, -2)

    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.normal(size=(n + 2 * pad, n + 2 * pad, 3)).astype(np.float32), (0, 0), 1.5)
    big = np.rint((big - big.min()) / (big.max() - big.min()) * 255).astype(np.uint8)
    f0 = big[pad:-pad, pad:-pad]
    f1 = np.roll(big, (dy, dx), axis=(0, 1))[pad:-pad, pad:-pad]
    truth = np.stack((np.full((n, n), dx, np.float32), np.full((n, n), dy, np.float32)))
    inner = np.zeros((n, n), bool)
    inner[10:-10, 10:-10] = True

    print(f"# {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"cv2 threads {cv2.getNumThreads()}, {n}x{n}")
    print(f"{'what':<34}{'ms':>9}  note")
    configs = [("dis ultrafast", dict(method="dis", dis_preset="ultrafast")),
               ("dis fast", dict(method="dis", dis_preset="fast")),
               ("dis medium", dict(method="dis", dis_preset="medium")),
               ("farneback", dict(method="farneback"))]
    if args.raft_weights:
        configs.append((f"raft {args.raft_variant} (6 updates)",
                        dict(method="raft", raft_weights=args.raft_weights, raft_variant=args.raft_variant)))
    for name, kw in configs:
        est = FlowEstimator(**kw)
        sec, flow = timed(lambda: est(f0, f1), args.repeats)
        print(f"{name:<34}{sec * 1e3:9.2f}  EPE {end_point_error(flow, truth, inner):.4f} px")

    m = 20.0
    flows = torch.from_numpy(rng.normal(0, 5, (4, 2, n, n)).astype(np.float32))
    sec, img = timed(lambda: flow_to_motion_image(flows, m), args.repeats)
    print(f"{'encode 4 flows (torch, uint8)':<34}{sec * 1e3:9.2f}")
    sec, back = timed(lambda: motion_image_to_flow(img, m), args.repeats)
    print(f"{'decode 4 images (torch, uint8)':<34}{sec * 1e3:9.2f}  mean EPE {end_point_error(back, flows):.4f} px")

    hom = np.array([[1.02, -0.01, 3.0], [0.01, 1.02, -2.0], [1e-5, 0, 1]])
    cam = homography_flow(hom, n, n).astype(np.float32)
    sec, (rel, _) = timed(lambda: remove_camera_motion(cam), args.repeats)
    print(f"{'remove_camera_motion':<34}{sec * 1e3:9.2f}  residual {end_point_error(rel, np.zeros_like(rel)):.2e} px")


if __name__ == "__main__":
    main()

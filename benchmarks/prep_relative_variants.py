"""Camera-motion removal variants on uncompressed synthetic frames (no video codec, no pipeline): the object's
flow error on the mover with the camera's flow subtracted (the pipeline's method), with frame t+1 stabilized by
the fitted homography before a second DIS pass, with full-resolution DIS, and stabilized by the true homography.

    .venv/bin/python benchmarks/prep_relative_variants.py --videos 8   # 256x256, 24 frames, every 2nd pair

Prints the mover EPE of each variant, its ratio to the uncompensated flow's, and the seconds each estimate took.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import cv2
import numpy as np

from data_prep.synth import SynthVideosConfig, render_video
from motionvla.flow import FlowEstimator, end_point_error, fit_camera_motion, subtract_camera_motion


def stabilized_flow(estimator: FlowEstimator, frame0: np.ndarray, frame1: np.ndarray, hom: np.ndarray) -> np.ndarray:
    """Object flow from DIS on (frame0, frame1 warped back by ``hom``): residual r, object flow H(p + r) - H(p)."""
    h, w = frame0.shape[:2]
    warped = cv2.warpPerspective(frame1, hom, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
    r = estimator(frame0, warped)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)

    def apply(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = hom[2, 0] * x + hom[2, 1] * y + hom[2, 2]
        return (hom[0, 0] * x + hom[0, 1] * y + hom[0, 2]) / d, (hom[1, 0] * x + hom[1, 1] * y + hom[1, 2]) / d

    ax, ay = apply(xs + r[0], ys + r[1])
    bx, by = apply(xs, ys)
    return np.stack([ax - bx, ay - by]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cfg = SynthVideosConfig(size=256, frames=24, camera_motion="pan,zoom,roll", seed=0)
    medium, ultrafast = FlowEstimator("dis", dis_preset="medium"), FlowEstimator("dis", dis_preset="ultrafast")
    full = FlowEstimator("dis", dis_preset="medium", dis_params={"FinestScale": 0})
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    seconds: dict[str, float] = defaultdict(float)

    def add(name: str, pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> None:
        if mask.any():
            sums[name][0] += end_point_error(pred, target, mask=mask) * mask.sum()
            sums[name][1] += mask.sum()

    def timed(name: str, fn, *a):
        start = time.perf_counter()
        out = fn(*a)
        seconds[name] += time.perf_counter() - start
        return out

    for index in range(args.videos):
        frames, gt, _ = render_video(cfg, index)
        for t in range(0, cfg.frames - 1, 2):
            f0, f1, mover, target = frames[t], frames[t + 1], gt.mover_mask[t], gt.object[t]
            flow = timed("dis medium", medium, f0, f1)
            fit = fit_camera_motion(flow)
            add("without", flow, target, mover)
            add("subtract (pipeline)", subtract_camera_motion(flow, fit), target, mover)
            add("stabilize, medium fit", timed("stabilized 2nd pass", stabilized_flow, medium, f0, f1,
                                               fit.homography), target, mover)
            rough = fit_camera_motion(timed("dis ultrafast", ultrafast, f0, f1))
            add("stabilize, ultrafast fit", stabilized_flow(medium, f0, f1, rough.homography), target, mover)
            fine = timed("dis medium full-res", full, f0, f1)
            add("full-res subtract", subtract_camera_motion(fine, fit_camera_motion(fine)), target, mover)
            add("stabilize, true homography", stabilized_flow(medium, f0, f1, gt.homographies[t]), target, mover)
    base = sums["without"][0] / sums["without"][1]
    for name, (total, count) in sums.items():
        print(f"{name:28s} mover EPE {total / count:.3f} px  ratio {total / count / base:.3f}")
    print("seconds:", {k: round(v, 2) for k, v in seconds.items()})


if __name__ == "__main__":
    main()

"""The per-video work: decoded frames -> clips -> flow -> relative flow -> filters -> samples.

:func:`process_group` is the unit of work every engine runs (a process pool or Ray): a fixed group of inputs
becomes one shard, written atomically, and one record per input. A group's output depends only on its inputs
and the config, so a group redone after a crash produces the same bytes.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from data_prep.config import PrepConfig
from data_prep.decode import DecodedVideo, DecodeFailure, DecoderProcess, DecodeRequest
from data_prep.shards import SHARD_PATTERN, ShardWriter, encode_sample, sample_key
from data_prep.sources import VideoInput
from motionvla.flow import CameraFit, FlowEstimator, fit_camera_motion, resize_flow, subtract_camera_motion


@dataclass
class PairFlow:
    """The flow between frames i and i+1, at the stored size, with its camera fit."""

    flow: np.ndarray  # float32 (2, S, S): relative when the config asks for it, else total
    fit: CameraFit | None
    moving_fraction: float  # share of pixels moving more than the config's motion_threshold_px


def clip_starts(num_frames: int, cfg: PrepConfig) -> list[int]:
    """t0 (the last observed frame) of every clip: frames t0-frames_in+1 .. t0+future must exist."""
    first, last = cfg.frames_in - 1, num_frames - 1 - cfg.future
    starts = list(range(first, last + 1, cfg.stride)) if last >= first else []
    if cfg.max_clips_per_video and len(starts) > cfg.max_clips_per_video:
        picks = np.linspace(0, len(starts) - 1, cfg.max_clips_per_video).round().astype(int)
        starts = [starts[i] for i in picks]
    return starts


class VideoProcessor:
    """Holds the flow estimator and the decoder process of one worker; :meth:`process` one input."""

    def __init__(self, cfg: PrepConfig) -> None:
        cv2.setNumThreads(1)  # parallelism comes from workers; OpenCV's threads would fight over the same cores
        self.cfg = cfg
        dis_params = {"FinestScale": cfg.dis_finest_scale} if cfg.flow == "dis" and cfg.dis_finest_scale >= 0 else None
        self.estimator = FlowEstimator(cfg.flow, dis_preset=cfg.dis_preset, dis_params=dis_params,
                                       raft_weights=cfg.raft_weights or None,
                                       raft_variant=cfg.raft_variant, num_flow_updates=cfg.raft_updates)
        self.decoder = DecoderProcess()
        self.timing: Counter = Counter()

    def close(self) -> None:
        self.decoder.close()

    def start_decode(self, item: VideoInput) -> None:
        """Hands ``item`` to the decoder process, which decodes it while this process works on another."""
        cfg = self.cfg
        self.decoder.submit(DecodeRequest(item.path, cfg.fps, cfg.estimation_size, cfg.resize, item.start, item.end,
                                          cfg.max_source_pixels), cfg.decode_timeout_s)

    def _pair_flows(self, frames: np.ndarray, pairs: list[int]) -> dict[int, PairFlow]:
        cfg = self.cfg
        out: dict[int, PairFlow] = {}
        for i in pairs:
            t = time.perf_counter()
            flow = self.estimator(frames[i], frames[i + 1])
            self.timing["flow"] += time.perf_counter() - t
            t = time.perf_counter()
            fit = None
            if cfg.relative:
                fit = fit_camera_motion(flow, ransac_reproj_threshold=cfg.ransac_threshold_px,
                                        grid_step=cfg.camera_grid_px)
                flow = subtract_camera_motion(flow, fit)
            flow = resize_flow(flow, cfg.size, cfg.size)
            self.timing["homography"] += time.perf_counter() - t
            t = time.perf_counter()
            moving = float((flow[0] * flow[0] + flow[1] * flow[1] > cfg.motion_threshold_px ** 2).mean())
            self.timing["filter"] += time.perf_counter() - t
            out[i] = PairFlow(flow, fit, moving)
        return out

    def _clip_verdict(self, pairs: list[PairFlow]) -> tuple[str | None, dict]:
        """``(filter reason or None, clip statistics)`` for a clip's future pairs."""
        cfg = self.cfg
        stats = {"moving_fraction": max(p.moving_fraction for p in pairs)}
        fits = [p.fit for p in pairs if p.fit is not None]
        if fits:
            stats["inlier_ratio"] = min(f.inlier_ratio for f in fits)
            stats["camera_residual_px"] = max(f.residual_px if f.ok else float("inf") for f in fits)
            if any(not f.ok for f in fits):
                return "camera_fit_failed", stats
            if stats["inlier_ratio"] < cfg.min_inlier_ratio or stats["camera_residual_px"] > cfg.max_camera_residual_px:
                return "camera_fit_poor", stats
        if stats["moving_fraction"] < cfg.min_moving_fraction:
            return "too_little_motion", stats
        return None, stats

    def process(self, item: VideoInput, writer: ShardWriter, next_item: VideoInput | None = None) -> dict:
        """Processes one input (whose decode :meth:`start_decode` started), starts decoding ``next_item``, writes
        the samples to ``writer`` and returns the record. A bad input never raises: its record says why."""
        started = time.perf_counter()
        record = {"input": item.index, "id": item.id, "path": item.path, "source": item.source,
                  "status": "ok", "reason": "", "samples": 0}
        video, failure = None, None
        try:
            video = self.decoder.result()
        except DecodeFailure as fail:
            failure = fail
        self.timing["decode"] += time.perf_counter() - started  # the wait: decoding overlaps the previous video
        if next_item is not None:
            self.start_decode(next_item)
        if failure is not None:
            record.update(status=failure.status, reason=failure.reason, detail=failure.detail)
        else:
            try:
                record.update(self._samples(item, video, writer))
            except Exception as err:  # noqa: BLE001 -- an unexpected error costs this input, recorded, not the run
                record.update(status="failed", reason="processing_error", detail=f"{type(err).__name__}: {err}")
        record["seconds"] = round(time.perf_counter() - started, 4)
        return record

    def _samples(self, item: VideoInput, video: DecodedVideo, writer: ShardWriter) -> dict:
        cfg = self.cfg
        n = len(video.frames)
        starts = clip_starts(n, cfg)
        info = {"frames": n, "source_size": [video.source_width, video.source_height],
                "source_fps": round(video.source_fps, 3), "clips": len(starts)}
        if not starts:
            needed = cfg.frames_in + cfg.future
            return {**info, "status": "skipped", "reason": "too_short",
                    "detail": f"{n} frames at {cfg.fps:g} fps < {needed} needed for one clip"}
        needed_pairs = sorted({i for t0 in starts for i in range(t0 - cfg.frames_in + 1, t0 + cfg.future)})
        flows = self._pair_flows(video.frames, needed_pairs)
        stored = video.frames
        if cfg.estimation_size != cfg.size:
            stored = np.stack([cv2.resize(f, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA) for f in video.frames])
        filtered: Counter = Counter()
        kept_stats: list[dict] = []
        for t0 in starts:
            t = time.perf_counter()
            future = [flows[i] for i in range(t0, t0 + cfg.future)]
            reason, stats = self._clip_verdict(future)
            self.timing["filter"] += time.perf_counter() - t
            if reason:
                filtered[reason] += 1
                continue
            kept_stats.append(stats)
            past = [flows[i].flow for i in range(t0 - cfg.frames_in + 1, t0)]
            meta = {
                "source": item.source, "video_id": item.id, "t0": t0, "t0_s": round(float(video.times[t0]), 4),
                "fps": cfg.fps or video.source_fps, "size": cfg.size, "flow_method": cfg.flow,
                "flow_units": "pixels at size x size", "relative": cfg.relative,
                "camera": [{"inlier_ratio": round(p.fit.inlier_ratio, 4), "residual_px": round(p.fit.residual_px, 4),
                            "homography": np.round(p.fit.homography, 8).tolist()} for p in future if p.fit],
                "moving_fraction": round(stats["moving_fraction"], 5),
            }
            t = time.perf_counter()
            frames_in = stored[t0 - cfg.frames_in + 1:t0 + 1].transpose(0, 3, 1, 2)
            past_flow = np.stack(past) if past else np.zeros((0, 2, cfg.size, cfg.size), np.float32)
            writer.write(encode_sample(sample_key(item.id, t0), frames_in, np.stack([p.flow for p in future]),
                                       past_flow, item.caption or "", meta))
            self.timing["write"] += time.perf_counter() - t
        result = {**info, "samples": len(kept_stats), "clips_filtered": dict(sorted(filtered.items()))}
        if kept_stats:
            result["moving_fraction"] = round(float(np.mean([s["moving_fraction"] for s in kept_stats])), 5)
            if "inlier_ratio" in kept_stats[0]:
                result["inlier_ratio"] = round(float(np.mean([s["inlier_ratio"] for s in kept_stats])), 4)
                result["camera_residual_px"] = round(float(np.median([s["camera_residual_px"] for s in kept_stats])), 4)
        else:
            result.update(status="skipped", reason="no_clip_passed_filters",
                          detail=", ".join(f"{k}: {v}" for k, v in sorted(filtered.items())))
        return result


_PROCESSOR: VideoProcessor | None = None  # one per worker process, reused across groups


def close_processor() -> None:
    """Stops this process's decoder child and forgets the processor (end of an in-process run)."""
    global _PROCESSOR
    if _PROCESSOR is not None:
        _PROCESSOR.close()
        _PROCESSOR = None


def _processor(cfg: PrepConfig) -> VideoProcessor:
    global _PROCESSOR
    if _PROCESSOR is None or _PROCESSOR.cfg != cfg:
        if _PROCESSOR is not None:
            _PROCESSOR.close()
        _PROCESSOR = VideoProcessor(cfg)
    return _PROCESSOR


def warm_up(cfg: PrepConfig) -> int:
    """Builds this worker's processor and starts its decoder process (what a worker's first video would pay);
    returns the worker's pid."""
    _processor(cfg).decoder.ensure_started()
    return os.getpid()


def process_group(cfg: PrepConfig, group: int, items: list[VideoInput]) -> dict:
    """Processes a group of inputs into ``shard-<group>.tar`` (atomically). Returns ``{"group", "records",
    "shard", "timing"}``; ``shard`` is None when no input of the group gave a sample."""
    proc = _processor(cfg)
    proc.timing.clear()
    path = Path(cfg.out) / SHARD_PATTERN.format(group)
    records = []
    with ShardWriter(path) as writer:
        if items:
            proc.start_decode(items[0])
        for n, item in enumerate(items):
            records.append(proc.process(item, writer, items[n + 1] if n + 1 < len(items) else None))
        written = writer.commit()
    return {"group": group, "records": records, "shard": path.name if written else None,
            "timing": dict(proc.timing)}

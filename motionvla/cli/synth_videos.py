"""`motionvla synth-videos`: synthetic captioned videos (MP4 + WebM) with ground-truth optical flow."""

from __future__ import annotations

from data_prep.synth import SynthVideosConfig, synth_videos
from motionvla.configs import format_config

Config = SynthVideosConfig


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def run(cfg: Config) -> dict:
    print(format_config(cfg))
    summary = synth_videos(cfg)
    print(f"\nwrote {summary['videos']} videos ({cfg.size}x{cfg.size}, {cfg.frames} frames at {cfg.fps:g} fps, "
          f"layout {summary['layout']}) to {summary['out']} in {summary['seconds']:.1f} s, {summary['megabytes']} MB")
    print(f"  formats        {_counts(summary['formats'])}")
    print(f"  camera motion  {_counts(summary['camera_motion'])}")
    print(f"  directions     {_counts(summary['directions'])}")
    print(f"manifest: {summary['out']}/manifest.jsonl; ground truth: "
          f"data_prep.synth.load_ground_truth({summary['out']!r}, 'synth_000000')")
    return summary

"""`motionvla prep`: captioned videos -> relative optical flow -> WebDataset shards (resumable)."""

from __future__ import annotations

from data_prep.config import PrepConfig
from motionvla.configs import format_config

Config = PrepConfig


def run(cfg: Config) -> dict:
    from data_prep.runner import run_prep

    print(format_config(cfg))
    summary = run_prep(cfg)
    status = summary["status"]
    print(f"\n{summary['inputs']} inputs: {status['ok']} ok, {status['skipped']} skipped, {status['failed']} failed"
          f"{' (resumed)' if summary['resumed'] else ''}")
    for reason, count in summary["reasons"].items():
        print(f"  {reason:<40} {count}")
    print(f"{summary['samples']} samples in {summary['shards']} shards, {summary['bytes_per_sample'] / 1e6:.2f} MB per "
          f"sample; this run: {summary['processed_inputs']} inputs, {summary['new_samples']} samples in "
          f"{summary['seconds']:.1f} s ({summary['clips_per_s']:.2f} clips/s)")
    if summary["stage_seconds"]:
        print("stage seconds (summed over workers): " +
              ", ".join(f"{k} {v:.1f}" for k, v in summary["stage_seconds"].items()))
    print(f"books: {cfg.out}/manifest.jsonl, {cfg.out}/stats.json; read with data_prep.FlowShardDataset({cfg.out!r})")
    return summary

"""The output folder's books: ``manifest.jsonl`` (one line per input), ``stats.json`` and ``prep_config.json``.

``manifest.jsonl`` is the source of truth for resuming: an input with a line is done. Lines for one shard are
appended in one write after the shard has been renamed into place, so a crash can at worst leave a shard
without its lines (the group is redone and rewritten with the same bytes) or a torn last line (dropped on
resume).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from motionvla.errors import UserError
from motionvla.utils.atomic import atomic_write_json

MANIFEST = "manifest.jsonl"
STATS = "stats.json"
CONFIG = "prep_config.json"
STATUSES = ("ok", "skipped", "failed")


def read_records(out: Path) -> dict[int, dict]:
    """Records by input index; a torn last line (a crash mid-write) is cut off the file."""
    path = out / MANIFEST
    if not path.exists():
        return {}
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut != len(data):
        with open(path, "rb+") as handle:
            handle.truncate(cut)
    records: dict[int, dict] = {}
    for line in data[:cut].splitlines():
        record = json.loads(line)
        records[int(record["input"])] = record
    return records


def append_records(out: Path, records: list[dict]) -> None:
    """Appends records as one write, flushed to disk."""
    if not records:
        return
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    with open(out / MANIFEST, "ab") as handle:
        handle.write(text.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


class OutputLock:
    """An exclusive ``flock`` on ``<out>/.lock``: two runs on one folder would interleave their books."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".lock"

    def __enter__(self) -> OutputLock:
        self._handle = open(self.path, "w")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise UserError(f"--out={self.path.parent}: another prep run is writing to this folder") from None
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def prepare_output(out: Path, identity: dict, resolved: dict) -> bool:
    """Creates ``out`` or checks that it holds a run of the same config. Returns True when resuming."""
    config_path = out / CONFIG
    if out.exists() and not out.is_dir():
        raise UserError(f"--out={out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not config_path.is_file():
            raise UserError(f"--out={out}: the folder holds something else (no {CONFIG}); choose a new or empty folder")
        saved = json.loads(config_path.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(identity) | set(saved.get("identity", {}))
                         if saved.get("identity", {}).get(k) != identity.get(k))
        if changed:
            raise UserError(f"--out={out} was made with other settings ({', '.join(changed)}); "
                            "resume with the same settings or choose a new folder")
        return True
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_path, {"identity": identity, "resolved": resolved})
    return False


def _summary(values: list[float]) -> dict:
    if not values:
        return {}
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(arr.mean()), 5), "p10": round(float(np.percentile(arr, 10)), 5),
            "median": round(float(np.median(arr)), 5), "p90": round(float(np.percentile(arr, 90)), 5)}


def compute_stats(out: Path, records: dict[int, dict], num_inputs: int) -> dict:
    """Counts per status and reason, clip filter counts, motion and camera statistics, bytes per sample."""
    status = Counter(r["status"] for r in records.values())
    reasons = Counter(f"{r['status']}:{r['reason']}" for r in records.values() if r["reason"])
    clips_filtered: Counter = Counter()
    for r in records.values():
        clips_filtered.update(r.get("clips_filtered", {}))
    samples = sum(r.get("samples", 0) for r in records.values())
    shard_bytes = sum(p.stat().st_size for p in out.glob("shard-*.tar"))
    ok = [r for r in records.values() if r["status"] == "ok"]
    stats = {
        "inputs": num_inputs,
        "accounted": len(records),
        "status": {s: status.get(s, 0) for s in STATUSES},
        "reasons": dict(sorted(reasons.items())),
        "clips": {"considered": sum(r.get("clips", 0) for r in records.values()), "kept": samples,
                  "filtered": dict(sorted(clips_filtered.items()))},
        "samples": samples,
        "shards": len(list(out.glob("shard-*.tar"))),
        "shard_bytes": shard_bytes,
        "bytes_per_sample": round(shard_bytes / samples) if samples else 0,
        "motion_moving_fraction": _summary([r["moving_fraction"] for r in ok if "moving_fraction" in r]),
        "camera_inlier_ratio": _summary([r["inlier_ratio"] for r in ok if "inlier_ratio" in r]),
        "camera_residual_px": _summary([r["camera_residual_px"] for r in ok if "camera_residual_px" in r]),
        "seconds_per_input": _summary([r.get("seconds", 0.0) for r in records.values()]),
    }
    atomic_write_json(out / STATS, stats)
    return stats

"""Every kind of bad input is recorded with its reason, the run finishes, and the counts reconcile."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_prep.synth import encode_video
from tests.data_prep.helpers import TINY_PREP, read_manifest, run_prep_cli

def _bad_set(root: Path, synth: Path) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A manifest of good and bad inputs; returns it and the expected (status, reason) per id."""
    good = [json.loads(line) for line in (synth / "manifest.jsonl").read_text().splitlines()]
    mp4 = next(synth / g["path"] for g in good if g["path"].endswith(".mp4"))
    files = root / "videos"
    files.mkdir()
    (files / "empty.mp4").write_bytes(b"")
    data = mp4.read_bytes()
    (files / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (files / "text.mp4").write_text("this is not a video\n" * 20)
    os.mkfifo(files / "fifo.mp4")
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    (files / "short.mp4").write_bytes(encode_video(frames, "mp4", 12.0))
    big = np.random.default_rng(1).integers(0, 255, (6, 720, 1280, 3), dtype=np.uint8)
    (files / "big.mp4").write_bytes(encode_video(big, "mp4", 12.0))
    shutil.copy(mp4, files / "locked.mp4")
    (files / "locked.mp4").chmod(0o000)
    g0, g1, g2 = (str(synth / g["path"]) for g in good[:3])

    unicode_caption = "the red circle 🔴 moves to the left\u200b — ünïcødé, 左へ\nwhile others stay"
    rows = [
        {"id": "good", "path": g0, "caption": good[0]["caption"]},
        {"id": "unicode", "path": g1, "caption": unicode_caption},
        {"id": "empty", "path": str(files / "empty.mp4"), "caption": "a caption"},
        {"id": "truncated", "path": str(files / "truncated.mp4"), "caption": "a caption"},
        {"id": "text", "path": str(files / "text.mp4"), "caption": "a caption"},
        {"id": "fifo", "path": str(files / "fifo.mp4"), "caption": "a caption"},
        {"id": "short", "path": str(files / "short.mp4"), "caption": "a caption"},
        {"id": "missing", "path": str(files / "missing.mp4"), "caption": "a caption"},
        {"id": "no_caption", "path": g2, "caption": "   "},
        {"id": "big", "path": str(files / "big.mp4"), "caption": "a caption"},
        {"id": "locked", "path": str(files / "locked.mp4"), "caption": "a caption"},
        {"id": "good", "path": g2, "caption": "a duplicate id"},
    ]
    expected = {
        "good": ("ok", ""), "unicode": ("ok", ""), "empty": ("failed", "empty_file"),
        "truncated": ("failed", "not_a_video"), "text": ("failed", "not_a_video"),
        "fifo": ("failed", "decode_timeout"), "short": ("skipped", "too_short"), "missing": ("failed", "missing_file"),
        "no_caption": ("skipped", "unusable_caption"), "big": ("skipped", "resolution_too_large"),
        "locked": ("failed", "permission_denied"),
    }
    manifest = root / "inputs.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + ["{not json"]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest, expected


def test_every_bad_input_is_recorded_and_the_run_finishes(synth_set, tmp_path):
    manifest, expected = _bad_set(tmp_path, synth_set())
    out = tmp_path / "out"
    result = run_prep_cli(f"--input={manifest}", f"--out={out}", *TINY_PREP, "--decode_timeout_s=3",
                          "--max_source_pixels=500000", "--videos_per_shard=4", honour_permissions=True)
    assert result.returncode == 0, result.stderr[-3000:]
    records = sorted(read_manifest(out), key=lambda r: r["input"])
    assert len(records) == 13  # 12 rows + 1 malformed line: every input has exactly one line
    assert sorted(r["input"] for r in records) == list(range(13))
    by_id: dict[str, list[dict]] = {}
    for r in records:
        by_id.setdefault(r["id"], []).append(r)
    for vid, (status, reason) in expected.items():
        first = by_id[vid][0]
        assert (first["status"], first["reason"]) == (status, reason), (vid, first)
    duplicate = by_id["good"][1]
    assert (duplicate["status"], duplicate["reason"]) == ("skipped", "duplicate_id")
    bad_line = by_id["line-13"][0]
    assert (bad_line["status"], bad_line["reason"]) == ("failed", "bad_manifest_line")
    assert by_id["good"][0]["samples"] > 0 and by_id["unicode"][0]["samples"] > 0

    stats = json.loads((out / "stats.json").read_text())
    counts = stats["status"]
    assert counts == {"ok": 2, "skipped": 4, "failed": 7}
    assert stats["inputs"] == 13 == counts["ok"] + counts["skipped"] + counts["failed"]
    assert stats["samples"] == sum(r["samples"] for r in records)
    assert not list(out.glob(".*.tmp"))
    assert "13 inputs: 2 ok, 4 skipped, 7 failed" in result.stdout


def test_unicode_caption_is_kept_normalized(synth_set, tmp_path):
    from data_prep.reader import FlowShardDataset

    manifest, _ = _bad_set(tmp_path, synth_set())
    out = tmp_path / "out"
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()[:2]]
    manifest.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    assert run_prep_cli(f"--input={manifest}", f"--out={out}", *TINY_PREP).returncode == 0
    captions = {s["meta"]["video_id"]: s["caption"] for s in FlowShardDataset(out)}
    assert captions["unicode"] == "the red circle 🔴 moves to the left\u200b — ünïcødé, 左へ while others stay"


@pytest.mark.parametrize("problem", ["missing_input", "missing_labels", "foreign_out", "changed_config"])
def test_start_up_errors_are_one_line(problem, synth_set, tmp_path):
    synth = synth_set()
    args = [f"--input={synth / 'manifest.jsonl'}", f"--out={tmp_path / 'out'}", *TINY_PREP]
    if problem == "missing_input":
        args[0] = f"--input={tmp_path / 'nowhere.jsonl'}"
        expect = "no such file or folder"
    elif problem == "missing_labels":
        args = ["--source=ssv2", f"--input={synth}", f"--labels={tmp_path / 'labels.json'}", *args[1:]]
        expect = "no such file"
    elif problem == "foreign_out":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "notes.txt").write_text("mine")
        expect = "holds something else"
    else:
        assert run_prep_cli(*args).returncode == 0
        args.append("--stride=2")
        expect = "other settings (stride)"
    result = run_prep_cli(*args)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(error_lines) == 1 and expect in error_lines[0], result.stderr[-2000:]

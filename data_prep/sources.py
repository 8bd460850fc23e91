"""Input listings: Something-Something-V2, EgoDex and a generic manifest -> one ordered list of inputs.

Every input gets a line in the output's manifest, so a listing never drops anything: an entry that cannot be
processed (duplicate id, no caption, a malformed manifest line, a video without a label) is listed with its
verdict already decided. The order is deterministic (sorted folders, file order for manifests), which is what
makes shard contents, and therefore resumed runs, reproducible.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from motionvla.errors import UserError

VIDEO_SUFFIXES = (".webm", ".mp4", ".mkv", ".avi", ".mov")


@dataclass
class VideoInput:
    """One input video. ``verdict`` = ``(status, reason)`` when it is decided without decoding."""

    index: int
    id: str
    path: str
    caption: str | None
    source: str
    start: float | None = None
    end: float | None = None
    verdict: tuple[str, str] | None = None
    detail: str = ""


def normalize_caption(caption: object) -> str:
    """NFC-normalized text with runs of whitespace (any Unicode space, newlines) folded to one space."""
    if not isinstance(caption, str):
        return ""
    return " ".join(unicodedata.normalize("NFC", caption).split())


def caption_problem(caption: str | None, min_chars: int) -> str | None:
    """Why a caption is unusable (``None`` when it is fine): it needs ``min_chars`` letters."""
    letters = sum(ch.isalpha() for ch in caption or "")
    if not caption:
        return "empty caption"
    if letters < min_chars:
        return f"{letters} letters < min_caption_chars={min_chars}"
    return None


def _finish(items: list[VideoInput], min_caption_chars: int) -> list[VideoInput]:
    """Numbers the inputs, marks repeated ids and unusable captions."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        item.index = index
        if item.verdict is not None:
            continue
        if item.id in seen:
            item.verdict, item.detail = ("skipped", "duplicate_id"), f"same id as input {seen[item.id]}"
            continue
        seen[item.id] = index
        problem = caption_problem(item.caption, min_caption_chars)
        if problem:
            item.verdict, item.detail = ("skipped", "unusable_caption"), problem
    return items


def list_ssv2(videos: Path, labels: Path | None, min_caption_chars: int) -> list[VideoInput]:
    """SSv2: ``videos/<id>.webm`` and a labels JSON ``[{"id", "label", "template", "placeholders"}]``.

    Inputs are the union of labelled ids and video files: a label without a file fails (``missing_file``), a
    file without a label is skipped (``id_not_in_labels``).
    """
    if not videos.is_dir():
        raise UserError(f"--input={videos}: not a folder (ssv2 expects the folder of <id>.webm videos)")
    if labels is None:
        candidates = [videos / "labels.json", videos.parent / "labels.json"]
        labels = next((c for c in candidates if c.is_file()), None)
        if labels is None:
            raise UserError(f"ssv2 needs --labels=PATH (the labels JSON); none found at {candidates[0]} or {candidates[1]}")
    if not labels.is_file():
        raise UserError(f"--labels={labels}: no such file")
    try:
        entries = json.loads(labels.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"--labels={labels}: not valid JSON ({err})") from None
    if not isinstance(entries, list):
        raise UserError(f"--labels={labels}: expected a JSON list of {{'id', 'label', ...}} objects")
    files = {p.stem: p for p in sorted(videos.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES}
    items: list[VideoInput] = []
    labelled: set[str] = set()
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry:
            items.append(VideoInput(0, f"labels[{n}]", str(labels), None, "ssv2", verdict=("failed", "bad_label"),
                                    detail="entry without an 'id'"))
            continue
        vid = str(entry["id"])
        labelled.add(vid)
        path = files.get(vid, videos / f"{vid}.webm")
        items.append(VideoInput(0, vid, str(path), normalize_caption(entry.get("label")), "ssv2"))
    for vid, path in files.items():
        if vid not in labelled:
            items.append(VideoInput(0, vid, str(path), None, "ssv2", verdict=("skipped", "id_not_in_labels"),
                                    detail=f"{path.name} has no entry in {labels.name}"))
    return _finish(items, min_caption_chars)


def _egodex_caption(hdf5: Path) -> tuple[str | None, str]:
    import h5py

    try:
        with h5py.File(hdf5, "r") as handle:
            for key in ("llm_description", "description"):
                if key in handle.attrs:
                    value = handle.attrs[key]
                    return normalize_caption(value.decode() if isinstance(value, bytes) else str(value)), ""
    except OSError as err:
        return None, f"unreadable {hdf5.name}: {' '.join(str(err).split())}"
    return None, f"{hdf5.name} has no llm_description attribute"


def list_egodex(root: Path, min_caption_chars: int) -> list[VideoInput]:
    """EgoDex: ``<root>/<task>/<n>.mp4`` paired with ``<n>.hdf5`` whose ``llm_description`` attribute is the
    caption. A video without its HDF5 falls back to the task name ("fold_laundry" -> "fold laundry")."""
    if not root.is_dir():
        raise UserError(f"--input={root}: not a folder (egodex expects <task>/<n>.mp4 + <n>.hdf5)")
    items: list[VideoInput] = []
    for task in sorted(p for p in root.iterdir() if p.is_dir()):
        for video in sorted(task.glob("*.mp4"), key=lambda p: (len(p.stem), p.stem)):
            hdf5 = video.with_suffix(".hdf5")
            vid = f"{task.name}/{video.stem}"
            if hdf5.exists():
                caption, problem = _egodex_caption(hdf5)
                if caption is None:
                    items.append(VideoInput(0, vid, str(video), None, "egodex", verdict=("failed", "bad_annotation"),
                                            detail=problem))
                    continue
            else:
                caption = normalize_caption(task.name.replace("_", " "))
            items.append(VideoInput(0, vid, str(video), caption, "egodex"))
    if not items:
        raise UserError(f"--input={root}: no <task>/<n>.mp4 videos found (egodex layout)")
    return _finish(items, min_caption_chars)


def _seconds(value: object, name: str) -> float | None:
    if value in (None, ""):
        return None
    number = float(value)  # ValueError is reported by the caller with the line number
    if number < 0:
        raise ValueError(f"{name} must be >= 0 seconds")
    return number


def list_manifest(path: Path, min_caption_chars: int) -> list[VideoInput]:
    """A JSONL (one object per line) or CSV (header row) manifest with ``path``, ``caption``, optional ``id``,
    ``start`` and ``end`` (seconds). Relative paths are resolved against the manifest's folder. The id defaults
    to the path (plus the time window when one is given)."""
    if not path.is_file():
        raise UserError(f"--input={path}: no such manifest file (JSONL or CSV with path, caption[, id, start, end])")
    rows: list[tuple[int, object]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise UserError(f"--input={path}: CSV header must name a 'path' column, got {reader.fieldnames}")
            rows = [(n + 2, row) for n, row in enumerate(reader)]
    else:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as err:
                rows.append((n, f"not JSON ({err.msg})"))
    items: list[VideoInput] = []
    for line_no, row in rows:
        where = f"{path.name}:{line_no}"
        if not isinstance(row, dict) or not row.get("path"):
            why = row if isinstance(row, str) else "no 'path' field"
            items.append(VideoInput(0, f"line-{line_no}", str(path), None, "manifest",
                                    verdict=("failed", "bad_manifest_line"), detail=f"{where}: {why}"))
            continue
        video = Path(str(row["path"]))
        video = video if video.is_absolute() else path.parent / video
        try:
            start, end = _seconds(row.get("start"), "start"), _seconds(row.get("end"), "end")
        except ValueError as err:
            items.append(VideoInput(0, str(row.get("id") or f"line-{line_no}"), str(video), None, "manifest",
                                    verdict=("failed", "bad_manifest_line"), detail=f"{where}: {err}"))
            continue
        default_id = str(row["path"]) + (f"@{start or 0:g}-{end:g}" if end is not None else "")
        vid = str(row.get("id") or default_id)
        items.append(VideoInput(0, vid, str(video), normalize_caption(row.get("caption")), "manifest", start, end))
    return _finish(items, min_caption_chars)


def list_inputs(source: str, input_path: str, labels: str, min_caption_chars: int) -> list[VideoInput]:
    """The ordered inputs of a source (``ssv2``, ``egodex`` or ``manifest``)."""
    if not input_path:
        raise UserError("--input is required (a video folder for ssv2/egodex, a JSONL/CSV file for manifest)")
    root = Path(input_path).expanduser()
    if not root.exists():
        raise UserError(f"--input={input_path}: no such file or folder")
    if source == "ssv2":
        return list_ssv2(root, Path(labels).expanduser() if labels else None, min_caption_chars)
    if source == "egodex":
        return list_egodex(root, min_caption_chars)
    return list_manifest(root, min_caption_chars)

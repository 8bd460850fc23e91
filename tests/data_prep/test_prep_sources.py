"""Something-Something-V2, EgoDex and CSV manifests: listings, captions, and a prep run over each layout."""

from __future__ import annotations

import json
import shutil

import h5py
import pytest

from data_prep.config import PrepConfig
from data_prep.runner import run_prep
from data_prep.sources import list_egodex, list_inputs, list_manifest, list_ssv2
from motionvla.errors import UserError


def _prep(source: str, input_path, out, **kwargs) -> dict:
    cfg = PrepConfig(source=source, input=str(input_path), out=str(out), size=64, flow_size=128,
                     motion_threshold_px=0.15, progress=False, **kwargs)
    return run_prep(cfg)


def test_ssv2_labels_and_files_are_reconciled(synth_set, tmp_path):
    synth = synth_set(layout="ssv2", videos=4)
    root = tmp_path / "ssv2"
    shutil.copytree(synth, root)
    labels = json.loads((root / "labels.json").read_text())
    assert {"id", "label", "template", "placeholders"} <= set(labels[0])
    first_file = next(p for p in sorted((root / "videos").iterdir()) if p.stem == labels[0]["id"])
    shutil.copy(first_file, root / "videos" / f"999{first_file.suffix}")  # a video without a label
    labels.append({"id": "12345", "label": "a label without its video", "template": "", "placeholders": []})
    (root / "labels.json").write_text(json.dumps(labels))

    items = list_ssv2(root / "videos", None, min_caption_chars=3)  # labels.json found beside the folder
    verdicts = {i.id: i.verdict for i in items}
    assert verdicts["999"] == ("skipped", "id_not_in_labels") and verdicts[labels[0]["id"]] is None
    assert items[0].caption == labels[0]["label"]

    summary = _prep("ssv2", root / "videos", tmp_path / "out", labels=str(root / "labels.json"))
    records = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").open()}
    assert records["12345"]["reason"] == "missing_file" and records["999"]["reason"] == "id_not_in_labels"
    assert summary["inputs"] == 6 == sum(summary["status"].values())
    assert summary["status"]["ok"] >= 2


def test_egodex_captions_come_from_the_hdf5_attribute(synth_set, tmp_path):
    synth = synth_set(layout="egodex", videos=4)
    root = tmp_path / "egodex"
    shutil.copytree(synth, root, ignore=shutil.ignore_patterns("ground_truth", "*.json*", "*.md"))
    tasks = sorted(p for p in root.iterdir() if p.is_dir())
    first = sorted(tasks[0].glob("*.mp4"))[0]
    with h5py.File(first.with_suffix(".hdf5"), "r") as handle:
        caption = handle.attrs["llm_description"]
    (tasks[0] / "77.mp4").write_bytes(first.read_bytes())  # no annotation file: the task name is the caption
    items = list_egodex(root, min_caption_chars=3)
    by_id = {i.id: i for i in items}
    assert by_id[f"{tasks[0].name}/{first.stem}"].caption == caption
    assert by_id[f"{tasks[0].name}/77"].caption == tasks[0].name.replace("_", " ")
    summary = _prep("egodex", root, tmp_path / "out")
    assert summary["inputs"] == 5 and summary["status"]["failed"] == 0


def test_csv_manifest_with_time_windows(synth_set, tmp_path):
    synth = synth_set()
    rows = [json.loads(line) for line in (synth / "manifest.jsonl").open()]
    csv_path = tmp_path / "inputs.csv"
    lines = ["path,caption,id,start,end", f"{synth / rows[0]['path']},{rows[0]['caption']},whole,,",
             f"{synth / rows[0]['path']},{rows[0]['caption']},,0.5,1.2", f"{synth / rows[1]['path']},a caption,bad,-1,"]
    csv_path.write_text("\n".join(lines) + "\n")
    items = list_manifest(csv_path, min_caption_chars=3)
    assert [i.id for i in items[:2]] == ["whole", f"{synth / rows[0]['path']}@0.5-1.2"]
    assert (items[1].start, items[1].end) == (0.5, 1.2)
    assert items[2].verdict == ("failed", "bad_manifest_line") and "start must be >= 0" in items[2].detail
    summary = _prep("manifest", csv_path, tmp_path / "out", frames_in=1, future=2, stride=2)
    records = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").open()}
    assert records["whole"]["frames"] == 16
    assert 8 <= records[items[1].id]["frames"] <= 9  # 0.5 s .. 1.2 s at 12 fps
    assert summary["status"] == {"ok": 2, "skipped": 0, "failed": 1}


def test_listing_errors_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="--input is required"):
        list_inputs("manifest", "", "", 3)
    (tmp_path / "videos").mkdir()
    with pytest.raises(UserError, match="ssv2 needs --labels"):
        list_inputs("ssv2", str(tmp_path / "videos"), "", 3)
    (tmp_path / "labels.json").write_text("{broken")
    with pytest.raises(UserError, match="not valid JSON"):
        list_inputs("ssv2", str(tmp_path / "videos"), str(tmp_path / "labels.json"), 3)
    with pytest.raises(UserError, match="no <task>/<n>.mp4 videos"):
        list_inputs("egodex", str(tmp_path / "videos"), "", 3)
    with pytest.raises(UserError, match="--flow=raft needs --raft_weights"):
        PrepConfig(flow="raft")
    with pytest.raises(UserError, match="--source='youtube' is not accepted"):
        PrepConfig(source="youtube")

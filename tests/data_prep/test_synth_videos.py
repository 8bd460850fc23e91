import json
from pathlib import Path

import av
import cv2
import h5py
import numpy as np
import pytest

from data_prep.synth import SynthVideosConfig, load_ground_truth, render_video, synth_videos
from data_prep.synth_render import DIRECTIONS, apply_homography
from motionvla.cli.main import main
from motionvla.errors import UserError

SMALL = dict(size=96, frames=8)
TINY = dict(size=64, frames=6)


def _band(mask: np.ndarray, radius: int = 2) -> np.ndarray:
    """Pixels within ``radius`` of the mask's edge (antialiased blends of two layers that move apart)."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    m = mask.astype(np.uint8)
    return cv2.dilate(m, kernel).astype(bool) & cv2.dilate(1 - m, kernel).astype(bool)


def _warp_back_error(frames: np.ndarray, flow: np.ndarray, t: int, region: np.ndarray,
                     offset: tuple[float, float] = (0.0, 0.0)) -> float:
    """Mean |frame1(p + flow(p) + offset) - frame0(p)| in grey levels over ``region``."""
    ys, xs = np.mgrid[0 : frames.shape[1], 0 : frames.shape[2]].astype(np.float32)
    back = cv2.remap(frames[t + 1].astype(np.float32), xs + flow[0] + offset[0], ys + flow[1] + offset[1],
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return float(np.abs(back - frames[t]).mean(-1)[region].mean())


OFFSETS = [(0.0, 0.0), (0.3, 0.0), (-0.3, 0.0), (0.0, 0.3), (0.0, -0.3)]


@pytest.mark.parametrize("camera", ["", "pan", "zoom", "roll"])
def test_total_flow_warps_the_next_frame_onto_this_one(camera):
    frames, gt, info = render_video(SynthVideosConfig(size=128, frames=10, camera_motion=camera, distractors=1), 0)
    assert frames.dtype == np.uint8 and frames.shape == (10, 128, 128, 3)
    assert gt.total.dtype == np.float32 and gt.total.shape == (9, 2, 128, 128)
    background_errors, mover_errors = [], []
    for t in range(9):
        away = cv2.erode(gt.valid_mask[t].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        away &= ~_band(gt.moving_mask[t]) & ~_band(gt.mover_mask[t])
        background = away & ~gt.moving_mask[t]
        background_errors.append([_warp_back_error(frames, gt.total[t], t, background, o) for o in OFFSETS])
        mover = away & gt.mover_mask[t] & gt.moving_mask[t]
        if mover.sum() > 15:
            mover_errors.append([_warp_back_error(frames, gt.total[t], t, mover, o) for o in OFFSETS])
    assert len(mover_errors) >= 3
    # Measured at 128x128, grey levels: background 0.0 (static camera) or ~0.9 (moving: frames are resampled
    # twice), mover interior ~2.5 (sharp stripes); a flow 0.3 px off gives ~2.4 and ~7. The ground truth
    # must beat every such offset.
    for errors, bound in ((np.mean(background_errors, 0), 1.5), (np.mean(mover_errors, 0), 4.5)):
        assert errors[0] < bound
        assert errors[0] < 0.8 * errors[1:].min()


@pytest.mark.parametrize("camera", ["pan", "zoom", "roll"])
def test_camera_flow_is_the_homography_induced_flow(camera):
    _, gt, info = render_video(SynthVideosConfig(**SMALL, camera_motion=camera), 1)
    assert info["synth"]["camera_motion"] == camera
    ys, xs = np.mgrid[0:96, 0:96].astype(np.float64)
    pixels = np.stack((xs, ys))
    for t, h in enumerate(gt.homographies):
        assert not np.allclose(h, np.eye(3), atol=1e-4)
        np.testing.assert_allclose(gt.camera[t], apply_homography(h, pixels) - pixels, atol=1e-4)
        np.testing.assert_allclose(h, gt.cameras[t + 1] @ np.linalg.inv(gt.cameras[t]), atol=1e-9)
    background = ~gt.moving_mask
    assert np.abs(gt.object.transpose(1, 0, 2, 3)[:, background]).max() < 1e-4
    assert np.abs(gt.total).max() > 0.1


def test_only_the_named_mover_moves_and_only_after_onset():
    cfg = SynthVideosConfig(**SMALL, objects=4)
    for index in range(4):
        _, gt, info = render_video(cfg, index)
        synth, onset = info["synth"], info["synth"]["onset_frame"]
        mover = synth["mover"]
        assert 0 <= onset <= cfg.frames // 2
        assert info["caption"].startswith(f"the {mover['colour']} {mover['shape']} moves "
                                          f"{DIRECTIONS[synth['direction']][1]} while ")
        assert all(f"the {o['colour']} {o['shape']}" in info["caption"] for o in synth["static"])
        assert len({o["colour"] for o in [mover, *synth["static"]]}) == 4
        np.testing.assert_array_equal(gt.homographies, np.broadcast_to(np.eye(3), gt.homographies.shape))
        np.testing.assert_array_equal(gt.total, gt.object)  # static camera
        step = np.asarray(DIRECTIONS[synth["direction"]][0]) * synth["speed_px"]
        for t in range(cfg.frames - 1):
            moving = np.hypot(*gt.object[t]) > 0
            on_mover = gt.object[t][:, gt.mover_mask[t]]
            assert gt.mover_mask[t].sum() > 50  # fully in view: never pushed off the border
            assert not gt.mover_mask[t][[0, -1]].any() and not gt.mover_mask[t][:, [0, -1]].any()
            if t < onset:
                assert not moving.any() and not gt.moving_mask[t].any()
            else:
                np.testing.assert_array_equal(moving, gt.mover_mask[t])
                np.testing.assert_array_equal(gt.moving_mask[t], gt.mover_mask[t])
                np.testing.assert_allclose(on_mover, np.broadcast_to(step[:, None], on_mover.shape), atol=1e-3)


def test_named_speeds_are_drawn_and_said_in_the_caption():
    cfg = SynthVideosConfig(**SMALL, speeds="slowly:1.5,quickly:4")
    words = set()
    for index in range(8):
        _, gt, info = render_video(cfg, index)
        synth = info["synth"]
        word, px = {"slowly": ("slowly", 1.5), "quickly": ("quickly", 4.0)}[synth["speed_word"]]
        words.add(word)
        assert f" moves {word} {DIRECTIONS[synth['direction']][1]} while " in info["caption"]
        assert synth["speed_px"] == pytest.approx(px * cfg.size / 256, abs=1e-4)  # not capped at this size
        t = cfg.frames - 2  # after every onset: the mover's ground-truth step is the named speed
        assert np.hypot(*gt.object[t][:, gt.mover_mask[t]]).mean() == pytest.approx(synth["speed_px"], abs=1e-3)
    assert words == {"slowly", "quickly"}
    plain = render_video(SynthVideosConfig(**SMALL), 0)[2]
    assert plain["synth"]["speed_word"] == ""
    assert f" moves {DIRECTIONS[plain['synth']['direction']][1]} while " in plain["caption"]


@pytest.mark.parametrize("speeds", ["slowly", "slowly:0", "slowly:x", "slowly:1,slowly:2", "very slowly:1"])
def test_bad_speeds_are_refused(speeds):
    with pytest.raises(UserError, match="speeds"):
        SynthVideosConfig(speeds=speeds)


def test_a_video_does_not_depend_on_how_many_are_made():
    a, gt_a, info_a = render_video(SynthVideosConfig(**TINY, videos=2), 1)
    b, gt_b, info_b = render_video(SynthVideosConfig(**TINY, videos=50), 1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(gt_a.total, gt_b.total)
    assert info_a == info_b
    c, _, info_c = render_video(SynthVideosConfig(**TINY, seed=1), 1)
    assert not np.array_equal(a, c)


def test_same_seed_same_bytes(tmp_path):
    options = dict(**TINY, videos=2, camera_motion="roll", distractors=1)
    for name in ("a", "b"):
        synth_videos(SynthVideosConfig(out=str(tmp_path / name), **options))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {f.suffix for f in files} >= {".mp4", ".webm", ".npz", ".jsonl"}
    for rel in files:
        if rel.name != "synth_config.json":  # it holds `out`
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_mp4_and_webm_decode_to_the_rendered_frames(tmp_path):
    cfg = SynthVideosConfig(out=str(tmp_path / "sv"), **SMALL, videos=2)
    summary = synth_videos(cfg)
    assert summary["formats"] == {"mp4": 1, "webm": 1} and summary["videos"] == 2
    rows = [json.loads(line) for line in (tmp_path / "sv" / "manifest.jsonl").read_text().splitlines()]
    assert [Path(r["path"]).suffix for r in rows] == [".mp4", ".webm"]
    for index, row in enumerate(rows):
        with av.open(str(tmp_path / "sv" / row["path"])) as container:
            decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert decoded.shape == (8, 96, 96, 3)
        rendered, _, _ = render_video(cfg, index)
        assert np.abs(decoded.astype(np.float32) - rendered).mean() < 8  # lossy, but the same pictures
        gt = load_ground_truth(tmp_path / "sv", row["id"])
        _, fresh, _ = render_video(cfg, index)
        assert gt.total.dtype == np.float32 and gt.mover_mask.dtype == bool
        np.testing.assert_allclose(gt.total, fresh.total, atol=0.01)  # stored as float16
        np.testing.assert_array_equal(gt.valid_mask, fresh.valid_mask)
        assert gt.scene["caption"] == row["caption"]


def test_ssv2_layout(tmp_path):
    synth_videos(SynthVideosConfig(out=str(tmp_path), **TINY, videos=3, layout="ssv2", formats="webm"))
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert [entry["id"] for entry in labels] == ["100", "101", "102"]
    for entry in labels:
        assert (tmp_path / "videos" / f"{entry['id']}.webm").is_file()
        filled = entry["template"]
        for name in entry["placeholders"]:
            filled = filled.replace("[something]", name, 1)
        assert filled == entry["label"] and "[something] moves" in entry["template"]
    assert load_ground_truth(tmp_path, "101").scene["id"] == "synth_000001"


def test_egodex_layout(tmp_path):
    synth_videos(SynthVideosConfig(out=str(tmp_path), **TINY, videos=4, layout="egodex"))
    rows = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    for row in rows:
        task, name = row["path"].split("/")
        assert task == "move_" + row["synth"]["direction"] and name.endswith(".mp4")
        assert (tmp_path / row["path"]).is_file()
        with h5py.File(tmp_path / task / name.replace(".mp4", ".hdf5"), "r") as f:
            assert f.attrs["llm_description"] == row["caption"] and f.attrs["task"] == task
    per_task = sorted(r["path"] for r in rows if r["path"].startswith(rows[0]["path"].split("/")[0]))
    assert per_task[0].endswith("/0.mp4")


def test_overwrite_regenerates_and_drops_stale_files(tmp_path):
    synth_videos(SynthVideosConfig(out=str(tmp_path), **TINY, videos=3))
    with pytest.raises(UserError, match="not empty"):
        synth_videos(SynthVideosConfig(out=str(tmp_path), **TINY, videos=1))
    synth_videos(SynthVideosConfig(out=str(tmp_path), **TINY, videos=1, overwrite=True))
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["synth_000000.mp4"]
    assert sorted(p.name for p in (tmp_path / "ground_truth").iterdir()) == ["synth_000000.npz"]


@pytest.mark.parametrize("field, value, accepted", [
    ("camera_motion", "pan,tilt", "pan, zoom, roll"), ("objects", 1, "2..8"), ("size", 63, "even"),
    ("formats", "avi", "mp4, webm"), ("layout", "kinetics", "manifest, ssv2, egodex"),
    ("camera_motion_fraction", 1.5, "[0, 1]"), ("frames", 1, ">= 2"),
])
def test_bad_values_name_the_field_and_what_is_accepted(field, value, accepted):
    with pytest.raises(UserError) as err:
        SynthVideosConfig(**{field: value})
    assert field in str(err.value) and accepted in str(err.value)


def test_cli(tmp_path, capsys):
    out = tmp_path / "sv"
    assert main(["synth-videos", f"--out={out}", "--videos=2", "--size=64", "--frames=4",
                 "--camera-motion=pan,zoom"]) == 0
    assert "wrote 2 videos" in capsys.readouterr().out
    assert (out / "manifest.jsonl").is_file() and (out / "README.md").is_file()
    assert json.loads((out / "synth_config.json").read_text())["camera_motion"] == "pan,zoom"
    assert main(["synth-videos", f"--out={tmp_path / 'x'}", "--camera_motion=tilt"]) == 2
    assert "pan, zoom, roll" in capsys.readouterr().err
    assert main(["synth-videos", f"--out={out}", "--videos=1"]) == 2  # not empty, no --overwrite

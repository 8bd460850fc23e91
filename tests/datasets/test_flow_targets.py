"""Future optical-flow targets computed from a recorded LeRobotDataset and cached on disk."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import sim_envs
from motionvla.datasets import flow_targets as ft
from motionvla.datasets.flow_targets import (
    CACHE_DIRNAME,
    FlowTargetConfig,
    FlowTargets,
    WithFlowTargets,
    build_flow_cache,
    precompute_flow_targets,
    resize_flow,
)
from motionvla.datasets.reading import episode_frames, episode_records
from motionvla.datasets.sim_recording import RecordDemosConfig, record_demos
from motionvla.errors import UserError
from motionvla.flow import FlowEstimator

TASK = sim_envs.list_tasks()[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out = tmp_path_factory.mktemp("flowdemos") / "ds"
    cfg = RecordDemosConfig(
        tasks=TASK, episodes_per_task=2, episodes_per_part=2, out=str(out), workers=1, image_size=64
    )
    record_demos(cfg)
    return LeRobotDataset(cfg.repo_id, root=cfg.out)


@pytest.fixture(scope="module")
def default_cache(dataset):
    return build_flow_cache(dataset, FlowTargetConfig(), progress=False)


class CountingEstimator(FlowEstimator):
    calls = 0

    def estimate_sequence(self, frames):
        type(self).calls += 1
        return super().estimate_sequence(frames)


@pytest.fixture
def counting(monkeypatch):
    CountingEstimator.calls = 0
    monkeypatch.setattr(ft, "FlowEstimator", CountingEstimator)
    return CountingEstimator


def test_default_cache_location_files_shapes_and_dtypes(dataset, default_cache):
    cfg = FlowTargetConfig()
    assert default_cache == dataset.root / CACHE_DIRNAME / cfg.config_hash()
    manifest = json.loads((default_cache / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["config"] == cfg.identity()
    assert manifest["dataset"] == {
        "repo_id": dataset.meta.repo_id,
        "total_episodes": 2,
        "total_frames": dataset.meta.total_frames,
        "fps": dataset.fps,
    }
    records = episode_records(dataset)
    names = [f"episode_{r['episode_index']:06d}.safetensors" for r in records]
    assert [e["file"] for e in manifest["episodes"]] == names
    for rec, ep in zip(records, manifest["episodes"]):
        data = load_file(default_cache / ep["file"])
        num = rec["end"] - rec["start"]
        assert data["flows"].shape == (num, 4, 2, 32, 32) and data["flows"].dtype == np.float16
        assert data["mask"].shape == (num, 4) and data["mask"].dtype == np.uint8
        assert np.abs(data["flows"]).max() > 0.05  # the arm moves: not all zero


def test_mask_and_zero_flow_past_episode_end(dataset, default_cache):
    targets = FlowTargets(default_cache)
    for rec in episode_records(dataset):
        num = rec["end"] - rec["start"]
        flows, mask = targets.episode(rec["episode_index"])
        expected = np.array([[t + i + 1 <= num - 1 for i in range(4)] for t in range(num)])
        np.testing.assert_array_equal(mask, expected)
        assert not mask[-1].any() and mask[-5].all()
        assert (flows[~mask] == 0).all()
        last_flow, last_mask = targets.get(rec["end"] - 1)
        assert last_flow.shape == (4, 2, 32, 32) and last_flow.dtype == np.float32
        assert last_mask.dtype == bool and not last_mask.any() and not last_flow.any()


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(num_flows=3, stride=2, height=16, width=24)], ids=["default", "stride2"]
)
def test_flow_matches_flow_estimator_on_the_same_frames(dataset, tmp_path, kwargs):
    cfg = FlowTargetConfig(cache_dir=str(tmp_path / "cache"), **kwargs)
    targets = FlowTargets(build_flow_cache(dataset, cfg, progress=False))
    estimator = FlowEstimator("dis")
    k, s = cfg.num_flows, cfg.stride
    for rec in episode_records(dataset):
        frames = episode_frames(dataset, rec, "front")
        num = len(frames)
        for t in (0, 1, num // 2, num - 2 * s - 1):
            flows, mask = targets.get(rec["start"] + t)
            assert flows.shape == (k, 2, cfg.height, cfg.width)
            for i in range(k):
                a, b = t + i * s, t + (i + 1) * s
                if b >= num:
                    assert not mask[i]
                    continue
                assert mask[i]
                direct = resize_flow(estimator(frames[a], frames[b]), cfg.height, cfg.width)
                np.testing.assert_allclose(flows[i], direct, atol=2e-3 + 1e-3 * np.abs(direct).max())


def test_resize_flow_rescales_vectors():
    flow = np.zeros((2, 64, 64), np.float32)
    flow[0], flow[1] = 4.0, -2.0
    small = resize_flow(flow, 32, 16)
    assert small.shape == (2, 32, 16)
    np.testing.assert_allclose(small[0], 1.0)  # x scaled by 16 / 64
    np.testing.assert_allclose(small[1], -1.0)  # y scaled by 32 / 64
    batched = resize_flow(np.stack([flow, 2 * flow]), 32, 32)
    assert batched.shape == (2, 2, 32, 32)
    np.testing.assert_allclose(batched[1, 0], 4.0)


def test_second_build_recomputes_nothing(dataset, tmp_path, counting):
    cfg = FlowTargetConfig(cache_dir=str(tmp_path / "cache"))
    build_flow_cache(dataset, cfg, progress=False)
    assert counting.calls == 2  # one sequence per episode (stride 1)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.safetensors")}
    build_flow_cache(dataset, cfg, progress=False)
    assert counting.calls == 2
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.safetensors")} == before


def test_half_finished_cache_is_completed(dataset, tmp_path, counting):
    cfg = FlowTargetConfig(cache_dir=str(tmp_path / "cache"))
    cache = build_flow_cache(dataset, cfg, progress=False)
    files = sorted(cache.glob("episode_*.safetensors"))
    reference = load_file(files[1])
    files[1].unlink()
    (cache / f".{files[0].name}.abc.tmp").write_bytes(b"half a file")  # what a crash mid-write leaves
    calls = counting.calls
    build_flow_cache(dataset, cfg, progress=False)
    assert counting.calls == calls + 1
    redone = load_file(files[1])
    np.testing.assert_array_equal(redone["flows"], reference["flows"])
    np.testing.assert_array_equal(redone["mask"], reference["mask"])
    FlowTargets(cache).get(int(episode_records(dataset)[1]["start"]))


def test_missing_file_at_read_time_says_how_to_fix(dataset, tmp_path):
    cache = build_flow_cache(dataset, FlowTargetConfig(cache_dir=str(tmp_path / "c")), progress=False)
    next(cache.glob("episode_*.safetensors")).unlink()
    with pytest.raises(UserError, match="build_flow_cache again"):
        FlowTargets(cache).get(0)


def test_config_or_dataset_mismatch_is_refused_then_overwritten(dataset, tmp_path):
    cache_dir = str(tmp_path / "cache")
    build_flow_cache(dataset, FlowTargetConfig(cache_dir=cache_dir), progress=False)
    other = FlowTargetConfig(cache_dir=cache_dir, num_flows=2)
    with pytest.raises(UserError, match="different flow target config.*overwrite=True"):
        build_flow_cache(dataset, other, progress=False)
    cache = build_flow_cache(dataset, other, progress=False, overwrite=True)
    assert FlowTargets(cache).get(0)[0].shape == (2, 2, 32, 32)

    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["dataset"]["total_frames"] += 1  # as if the dataset had grown since
    (cache / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="different dataset"):
        build_flow_cache(dataset, other, progress=False)
    with pytest.raises(UserError, match="rebuild"):
        WithFlowTargets(dataset, cache)


def test_with_flow_targets_adds_motion(dataset, default_cache):
    wrapped = WithFlowTargets(dataset, default_cache)
    assert len(wrapped) == len(dataset) and wrapped.fps == dataset.fps
    targets = FlowTargets(default_cache)
    for i in (0, 5, len(dataset) - 1):
        item = wrapped[i]
        assert item["motion"].shape == (4, 2, 32, 32) and item["motion"].dtype == torch.float32
        assert item["motion_mask"].shape == (4,) and item["motion_mask"].dtype == torch.bool
        flows, mask = targets.get(int(item["index"]))
        assert torch.equal(item["motion"], torch.from_numpy(flows))
        assert "observation.images.front" in item and "action" in item
    batch = next(iter(torch.utils.data.DataLoader(wrapped, batch_size=3, shuffle=True)))
    assert batch["motion"].shape == (3, 4, 2, 32, 32)
    assert batch["motion_mask"].shape == (3, 4)


def test_precompute_flow_targets_summary(dataset, tmp_path):
    kwargs = dict(cache_dir=str(tmp_path / "cache"), num_flows=2, progress=False)
    first = precompute_flow_targets(dataset.root, dataset.meta.repo_id, **kwargs)
    assert first["episodes_done"] == 2 and first["episodes_skipped"] == 0
    assert first["frames_done"] == dataset.meta.total_frames and first["frames_per_second"] > 0
    second = precompute_flow_targets(dataset.root, dataset.meta.repo_id, **kwargs)
    assert second["episodes_done"] == 0 and second["episodes_skipped"] == 2
    json.dumps(second)
    with pytest.raises(UserError, match="unknown flow target options"):
        precompute_flow_targets(dataset.root, dataset.meta.repo_id, num_flow=2)


def test_unknown_camera_is_named(dataset, tmp_path):
    with pytest.raises(ValueError, match="no camera 'side'"):
        build_flow_cache(dataset, FlowTargetConfig(camera="side", cache_dir=str(tmp_path / "c")), progress=False)


def _valid_magnitudes_from_files(cache_dir) -> np.ndarray:
    """Every valid flow's per-pixel magnitude, read straight from the cache's episode files (hypot of x and y)."""
    from safetensors.numpy import load_file

    out = []
    for path in sorted(Path(cache_dir).glob("episode_*.safetensors")):
        data = load_file(str(path))
        flows, mask = data["flows"].astype(np.float64), data["mask"].astype(bool)
        for t, k in zip(*np.nonzero(mask)):
            out.append(np.hypot(flows[t, k, 0], flows[t, k, 1]).ravel())
    return np.concatenate(out)


def test_magnitudes_are_those_of_the_valid_flows(dataset, default_cache):
    targets = FlowTargets(default_cache)
    got = np.sort(np.concatenate(list(targets.magnitudes())))
    want = np.sort(_valid_magnitudes_from_files(default_cache))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Subsampling episodes (1 of 2 here) is deterministic and reads fewer flows.
    one = np.concatenate(list(targets.magnitudes(max_episodes=1)))
    assert 0 < one.size < got.size
    np.testing.assert_array_equal(one, np.concatenate(list(targets.magnitudes(max_episodes=1))))


def test_policy_codec_scale_is_measured_from_the_flows(dataset, default_cache):
    from motionvla.policy import MotionVLAConfig
    from motionvla.train.policy_data import resolve_flow_scale

    targets = FlowTargets(default_cache)
    measured = resolve_flow_scale(MotionVLAConfig(device="cpu"), targets)
    want = float(np.percentile(_valid_magnitudes_from_files(default_cache), 99.5))
    assert want > 0 and measured.flow_max_magnitude == pytest.approx(want, rel=5e-3)
    fixed = MotionVLAConfig(device="cpu", flow_max_magnitude=3.0)
    assert resolve_flow_scale(fixed, targets).flow_max_magnitude == 3.0


def test_still_scene_scale_is_refused(tmp_path, dataset, default_cache, monkeypatch):
    from motionvla.policy import MotionVLAConfig
    from motionvla.train.policy_data import resolve_flow_scale

    targets = FlowTargets(default_cache)
    monkeypatch.setattr(targets, "magnitudes", lambda **kw: iter([np.zeros(100, dtype=np.float32)]))
    with pytest.raises(UserError, match="nothing moves.*--policy.flow_max_magnitude"):
        resolve_flow_scale(MotionVLAConfig(device="cpu"), targets)

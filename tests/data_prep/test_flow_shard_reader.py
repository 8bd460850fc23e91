"""The shards are readable by webdataset and by FlowShardDataset (DataLoader with 2 workers), as flow samples."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
import webdataset as wds
from torch.utils.data import DataLoader

from data_prep import FlowShardDataset, collate_flow_samples, read_sample
from data_prep.config import PrepConfig
from data_prep.runner import run_prep
from data_prep.synth import load_ground_truth
from motionvla.errors import UserError


@pytest.fixture(scope="module")
def shards(synth_set, tmp_path_factory):
    synth = synth_set(videos=6, seed=5)
    out = tmp_path_factory.mktemp("shards") / "out"
    cfg = PrepConfig(input=str(synth / "manifest.jsonl"), out=str(out), size=64, flow_size=128, videos_per_shard=2,
                     motion_threshold_px=0.15, progress=False)
    summary = run_prep(cfg)
    assert summary["samples"] >= 6 and summary["shards"] >= 2
    return out, synth, summary


def test_dataloader_with_two_workers_reads_every_sample_once(shards):
    out, _, summary = shards
    loader = DataLoader(FlowShardDataset(out), batch_size=4, num_workers=2, collate_fn=collate_flow_samples)
    keys = []
    for batch in loader:
        n = len(batch["key"])
        assert batch["frames"].shape == (n, 2, 3, 64, 64) and batch["frames"].dtype == torch.uint8
        assert batch["flow"].shape == (n, 4, 2, 64, 64) and batch["flow"].dtype == torch.float32
        assert batch["past_flow"].shape == (n, 1, 2, 64, 64)
        assert all(isinstance(c, str) and c for c in batch["caption"])
        assert {"video_id", "t0", "fps", "flow_scale", "source"} <= set(batch["meta"][0])
        keys += batch["key"]
    assert len(keys) == len(set(keys)) == summary["samples"] == len(FlowShardDataset(out))


def test_webdataset_reads_the_same_shards(shards):
    out, _, summary = shards
    urls = [str(p) for p in sorted(out.glob("shard-*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))
    assert len(samples) == summary["samples"]
    first = samples[0]
    assert {"frames.npy", "flow.npy", "past_flow.npy", "json"} <= set(first)
    ours = read_sample(out, first["__key__"])
    info = json.loads(first["json"])
    assert info["caption"] == ours["caption"]
    np.testing.assert_array_equal(np.load(io.BytesIO(first["frames.npy"])), ours["frames"])


def test_stored_flow_moves_where_and_how_the_ground_truth_moves(shards):
    """Each sample's caption is its video's, and its future flow on the mover's pixels points the way the
    ground truth does (ground truth brought from 128² to the stored 64²: area-averaged, vectors halved)."""
    out, synth, _ = shards
    captions = {json.loads(line)["id"]: json.loads(line)["caption"] for line in (synth / "manifest.jsonl").open()}
    checked = 0
    for sample in FlowShardDataset(out):
        vid, t0 = sample["meta"]["video_id"], sample["meta"]["t0"]
        assert sample["caption"] == captions[vid]
        gt = load_ground_truth(synth, vid)
        target = gt.object[t0:t0 + 4].reshape(4, 2, 64, 2, 64, 2).mean(axis=(3, 5)) / 2
        mask = gt.mover_mask[t0:t0 + 4].reshape(4, 64, 2, 64, 2).all(axis=(2, 4))
        flow = sample["flow"].numpy()
        for k in range(4):
            want = target[k][:, mask[k]].mean(axis=1) if mask[k].sum() >= 20 else np.zeros(2)
            if np.linalg.norm(want) < 0.2:
                continue
            got = flow[k][:, mask[k]].mean(axis=1)
            assert got @ want / (np.linalg.norm(got) * np.linalg.norm(want)) > 0.9, (vid, t0, k, got, want)
            assert 0.3 < np.linalg.norm(got) / np.linalg.norm(want) < 1.5, (vid, t0, k, got, want)
            checked += 1
    assert checked >= 10


def test_resize_flow_scales_vectors_with_the_image():
    from motionvla.flow import resize_flow

    flow = np.stack([np.full((128, 96), 3.0), np.full((128, 96), -2.0)]).astype(np.float32)
    small = resize_flow(flow, 64, 64)
    assert small.shape == (2, 64, 64)
    np.testing.assert_allclose(small[0], 3.0 * 64 / 96, rtol=1e-6)
    np.testing.assert_allclose(small[1], -2.0 * 64 / 128, rtol=1e-6)


def test_mixture_of_folders_and_shuffle(shards):
    out, _, summary = shards
    mixed = FlowShardDataset([out, out], weights=[3, 1], shuffle=True, seed=1)
    keys = [s["key"] for s in mixed]
    assert len(keys) == 2 * summary["samples"] and len(set(keys)) == summary["samples"]
    assert keys != [s["key"] for s in FlowShardDataset([out, out])]


ORDER_SCRIPT = """
import sys
from data_prep import FlowShardDataset
ds = FlowShardDataset([sys.argv[1], sys.argv[1]], weights=[3, 1], shuffle=True, shuffle_buffer=4, seed=7)
print(",".join(s["key"] for s in ds))
"""


def test_one_seed_gives_one_order_in_every_process(shards):
    """Python salts str hashes per process (PYTHONHASHSEED): an order seeded through hash() of a tuple holding a
    str differed from run to run. Three fresh processes with different salts must agree."""
    import os
    import subprocess
    import sys

    out = shards[0]
    orders = {subprocess.run([sys.executable, "-c", ORDER_SCRIPT, str(out)], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": str(salt)}).stdout for salt in (1, 2, 3)}
    assert len(orders) == 1
    keys = orders.pop().strip().split(",")
    in_this_process = [s["key"] for s in FlowShardDataset([out, out], weights=[3, 1], shuffle=True, shuffle_buffer=4,
                                                          seed=7)]
    assert keys == in_this_process
    other_seed = [s["key"] for s in FlowShardDataset([out, out], weights=[3, 1], shuffle=True, shuffle_buffer=4, seed=8)]
    assert other_seed != keys and sorted(other_seed) == sorted(keys)


def test_skip_resumes_the_stream_where_it_stopped(shards):
    out = shards[0]
    full = _take(FlowShardDataset(out, shuffle=True, seed=3, repeat=True, shuffle_buffer=4), 20)
    assert len(full) == 20
    resumed = _take(FlowShardDataset(out, shuffle=True, seed=3, repeat=True, shuffle_buffer=4, skip=7), 13)
    assert resumed == full[7:]  # across the epoch boundary too (fewer than 20 samples per epoch)
    with pytest.raises(UserError, match="skip must be >= 0"):
        FlowShardDataset(out, skip=-1)


def _take(dataset, n: int) -> list[str]:
    keys = []
    for sample in dataset:
        keys.append(sample["key"])
        if len(keys) == n:
            return keys
    return keys


def test_bad_folders_are_clear_errors(shards, tmp_path):
    with pytest.raises(UserError, match="not a folder"):
        FlowShardDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no shard-.*not a `motionvla prep` output folder"):
        FlowShardDataset(tmp_path / "empty")
    with pytest.raises(UserError, match="weights must be 1 positive"):
        FlowShardDataset(shards[0], weights=[1, 2])


def test_float16_conversion_matches_numpy_bit_for_bit():
    from data_prep.shards import to_float16

    x = np.random.default_rng(0).normal(0, 40, (3, 2, 16, 24)).astype(np.float32)
    x.flat[:4] = [65519.0, 1e-8, -0.0, 2.5e-5]
    assert np.array_equal(to_float16(x).view(np.uint16), x.astype(np.float16).view(np.uint16))
    assert to_float16(np.zeros((0, 2, 4, 4), np.float32)).shape == (0, 2, 4, 4)  # no past flow (frames_in = 1)

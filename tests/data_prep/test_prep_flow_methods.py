"""Every flow method runs through the pipeline: DIS (tested elsewhere), Farneback, RAFT from a local file."""

from __future__ import annotations

import torch
from safetensors.torch import save_file
from torchvision.models.optical_flow import raft_small

from data_prep import FlowShardDataset
from data_prep.config import PrepConfig
from data_prep.runner import run_prep


def test_farneback_and_raft_from_a_weights_file(synth_set, tmp_path):
    synth = synth_set(videos=2, seed=6)
    torch.manual_seed(0)
    weights = tmp_path / "raft_small.safetensors"
    save_file(raft_small(weights=None, progress=False).state_dict(), weights)  # random: tests wiring, not quality
    common = dict(input=str(synth / "manifest.jsonl"), size=64, min_moving_fraction=0.0, min_inlier_ratio=0.0,
                  max_camera_residual_px=1e9, progress=False)
    for method, extra in (("farneback", {}),
                          ("raft", {"raft_weights": str(weights), "raft_variant": "small", "raft_updates": 2})):
        out = tmp_path / method
        summary = run_prep(PrepConfig(out=str(out), flow=method, **common, **extra))
        assert summary["status"]["ok"] == 2, summary
        sample = next(iter(FlowShardDataset(out)))
        assert sample["meta"]["flow_method"] == method and sample["flow"].shape == (4, 2, 64, 64)
        assert torch.isfinite(sample["flow"]).all()

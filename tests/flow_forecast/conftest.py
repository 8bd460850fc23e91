"""Tiny flow shards (from the session's synthetic videos) for the forecaster tests."""

from __future__ import annotations

import pytest

from data_prep.config import PrepConfig
from data_prep.runner import run_prep


@pytest.fixture(scope="session")
def tiny_shards(synth_set, tmp_path_factory):
    """A prep output folder: 64² frames and flows, frames_in 2, K 4 (several dozen samples)."""
    out = tmp_path_factory.mktemp("forecast_shards") / "shards"
    run_prep(PrepConfig(input=str(synth_set(videos=6, seed=11) / "manifest.jsonl"), out=str(out), size=64,
                        flow_size=128, stride=2, motion_threshold_px=0.15, progress=False))
    return out

"""Synthetic captioned video sets, made once per session for the data-prep tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep.synth import SynthVideosConfig, synth_videos


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory):
    """``make(**cfg)``: a synthetic set written once per distinct config; returns its folder."""
    made: dict[tuple, Path] = {}

    def make(**kwargs) -> Path:
        options = {"videos": 6, "size": 128, "frames": 16, "seed": 0, **kwargs}
        key = tuple(sorted(options.items()))
        if key not in made:
            out = tmp_path_factory.mktemp("synth") / "set"
            synth_videos(SynthVideosConfig(out=str(out), **options))
            made[key] = out
        return made[key]

    return make

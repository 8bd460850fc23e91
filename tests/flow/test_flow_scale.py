"""The one codec-scale function: a percentile of per-pixel magnitudes, refusing data where nothing moves."""

import numpy as np
import pytest

from motionvla.errors import UserError
from motionvla.flow import codec_scale, flow_magnitudes


def test_percentile_of_known_magnitudes_rounded_to_three_digits():
    mags = [np.arange(1, 501, dtype=np.float32), np.arange(501, 1001, dtype=np.float32)]
    assert codec_scale(mags, 100.0, "test data", "--opt") == 1000.0
    # numpy's linear percentile of 1..1000 at 99.5 is 995.005; three significant digits keep 995.
    assert codec_scale(mags, 99.5, "test data", "--opt") == 995.0


def test_magnitudes_of_flows_count_only_valid_ones():
    flows = np.zeros((2, 3, 2, 4, 4), dtype=np.float32)
    flows[0, 1, 0] = 3.0
    flows[0, 1, 1] = 4.0  # a 3-4-5 triangle: magnitude 5 on all 16 pixels
    flows[1, 2, 0] = 100.0  # invalid below
    valid = np.zeros((2, 3), dtype=bool)
    valid[0, 1] = valid[0, 0] = True
    mags = flow_magnitudes(flows, valid)
    assert mags.shape == (32,) and sorted(set(mags.tolist())) == [0.0, 5.0]


def test_nothing_moves_is_refused_naming_the_source_and_option():
    with pytest.raises(UserError, match="nothing moves in the cache X.*--policy.flow_max_magnitude"):
        codec_scale([np.zeros(50), np.full(50, 1e-5)], 99.5, "the cache X", "--policy.flow_max_magnitude")


def test_no_flow_at_all_is_refused():
    with pytest.raises(UserError, match="no valid flow.*--model.flow_max_magnitude"):
        codec_scale([np.zeros(0)], 99.5, "the shards", "--model.flow_max_magnitude")


def test_bad_percentile_is_refused():
    with pytest.raises(UserError, match="percentile"):
        codec_scale([np.ones(3)], 0.0, "x", "--opt")

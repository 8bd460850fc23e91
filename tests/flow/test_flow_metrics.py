import math

import numpy as np
import pytest
import torch

from motionvla.flow import angular_error, end_point_error

# Two pixels (2, 1, 2): pred (1, 0) and (0, 0); target (0, 0) and (3, 4).
PRED = np.array([[[1.0, 0.0]], [[0.0, 0.0]]], dtype=np.float32)
TARGET = np.array([[[0.0, 3.0]], [[0.0, 4.0]]], dtype=np.float32)


def test_end_point_error_by_hand():
    # |(1,0) - (0,0)| = 1 and |(0,0) - (3,4)| = 5 -> mean 3.
    assert end_point_error(PRED, TARGET) == pytest.approx(3.0)
    assert end_point_error(PRED, PRED) == 0.0
    assert end_point_error(PRED, TARGET, mask=np.array([[True, False]])) == pytest.approx(1.0)
    assert end_point_error(PRED, TARGET, mask=np.array([[False, True]])) == pytest.approx(5.0)


def test_angular_error_by_hand():
    # Pixel 0: (1,0,1) vs (0,0,1): cos = 1/sqrt(2) -> 45 deg.
    # Pixel 1: (0,0,1) vs (3,4,1): cos = 1/sqrt(26) -> 78.690068 deg.
    a1 = math.degrees(math.acos(1 / math.sqrt(26)))
    assert a1 == pytest.approx(78.690068, abs=1e-6)
    assert angular_error(PRED, TARGET) == pytest.approx((45.0 + a1) / 2, abs=1e-9)
    assert angular_error(PRED, TARGET, mask=np.array([[True, False]])) == pytest.approx(45.0, abs=1e-9)
    # (1,0,1) vs (0,1,1): cos = 1/2 -> 60 deg;  (1,0,1) vs (-1,0,1): cos = 0 -> 90 deg.
    p = np.array([[[1.0, 1.0]], [[0.0, 0.0]]])
    t = np.array([[[0.0, -1.0]], [[1.0, 0.0]]])
    assert angular_error(p, t) == pytest.approx(75.0, abs=1e-9)
    assert angular_error(t, t) == 0.0


def test_tiny_angles_are_accurate():
    # Near-identical flows: arccos would lose precision here; 1e-6 px off on (1, 0) is ~2.9e-5 deg.
    p = np.array([[[1.0]], [[0.0]]])
    t = np.array([[[1.0]], [[1e-6]]])
    expected = math.degrees(math.atan2(1e-6 * math.sqrt(2), 2.0))  # atan2(|a x b|, a.b)
    assert angular_error(p, t) == pytest.approx(expected, rel=1e-6)


def test_batched_torch_and_numpy_agree():
    rng = np.random.default_rng(0)
    pred = rng.normal(0, 2, (3, 4, 2, 5, 6)).astype(np.float32)
    target = rng.normal(0, 2, (3, 4, 2, 5, 6)).astype(np.float32)
    mask = rng.uniform(size=(3, 4, 5, 6)) > 0.5
    for fn in (end_point_error, angular_error):
        a = fn(pred, target, mask)
        b = fn(torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(mask))
        assert isinstance(a, float) and a == pytest.approx(b, rel=1e-12)
    # Reference EPE with plain numpy.
    epe = np.hypot(*(pred.astype(np.float64) - target).transpose(2, 0, 1, 3, 4))
    assert end_point_error(pred, target) == pytest.approx(epe.mean(), rel=1e-9)
    assert end_point_error(pred, target, mask) == pytest.approx(epe[mask].mean(), rel=1e-9)
    # A per-image (H, W) mask broadcasts over the batch.
    assert end_point_error(pred, target, mask[0, 0]) == pytest.approx(epe[:, :, mask[0, 0]].mean(), rel=1e-9)


def test_empty_mask_is_nan_and_bad_shapes_raise():
    assert math.isnan(end_point_error(PRED, TARGET, mask=np.zeros((1, 2), bool)))
    with pytest.raises(ValueError, match="match"):
        end_point_error(PRED, TARGET[:, :, :1])
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, H, W\)"):
        angular_error(np.zeros((3, 2, 2)), np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="broadcast"):
        end_point_error(PRED, TARGET, mask=np.ones((3, 3), bool))

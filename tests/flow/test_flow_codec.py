import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from motionvla.flow import (
    UINT8_EPE_BOUND,
    flow_to_motion_image,
    flow_to_motion_image_float,
    motion_image_float_to_flow,
    motion_image_to_flow,
)

# float32 arithmetic on top of the exact-arithmetic bound: ~1e-6 of M, allow 1e-5.
TOL = UINT8_EPE_BOUND + 1e-5


def clipped(flow: np.ndarray, m: float) -> np.ndarray:
    """What the codec promises to preserve: the flow, with magnitudes above m cut to m (same direction)."""
    f = flow.astype(np.float64)
    mag = np.hypot(f[..., 0, :, :], f[..., 1, :, :])
    scale = np.where(mag > m, m / np.maximum(mag, 1e-300), 1.0)
    return f * scale[..., None, :, :]


def max_epe(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(np.hypot(d[..., 0, :, :], d[..., 1, :, :]).max())


def test_bound_value_matches_its_derivation():
    assert UINT8_EPE_BOUND == pytest.approx((1 + 2 * math.pi / 3) / 510)
    assert 0.0060 < UINT8_EPE_BOUND < 0.0061


@settings(max_examples=200, deadline=None)
@given(
    flow=arrays(np.float32, st.tuples(st.just(2), st.integers(1, 6), st.integers(1, 6)),
                elements=st.floats(-3.0, 3.0, width=32)),
    m=st.floats(0.05, 200.0),
)
def test_uint8_round_trip_within_bound(flow, m):
    # Flows up to 3*sqrt(2) x the scale: both the in-range and the clipped regime.
    flow = flow * np.float32(m)
    img = flow_to_motion_image(flow, m)
    assert img.dtype == np.uint8 and img.shape == (3,) + flow.shape[1:]
    back = motion_image_to_flow(img, m)
    assert back.dtype == np.float32 and back.shape == flow.shape
    assert max_epe(back, clipped(flow, m)) <= TOL * m


def test_uint8_round_trip_dense_sample_and_tightness():
    rng = np.random.default_rng(0)
    m = 16.0
    # Uniform over the disc of radius m, plus every hue at full saturation.
    r = m * np.sqrt(rng.uniform(0, 1, 200_000))
    t = rng.uniform(0, 2 * np.pi, r.size)
    flow = np.stack((r * np.cos(t), r * np.sin(t))).astype(np.float32).reshape(2, 400, 500)
    err = max_epe(motion_image_to_flow(flow_to_motion_image(flow, m), m), flow) / m
    assert err <= TOL
    # The bound is not vacuous: the worst case seen is within a factor 2 of it.
    assert err > UINT8_EPE_BOUND / 2


def test_beyond_max_is_clipped_along_the_same_direction():
    m = 5.0
    flow = np.array([[[50.0, -7.0, 0.0]], [[0.0, 7.0, -1000.0]]], dtype=np.float32)  # (2, 1, 3), all > m
    back = motion_image_float_to_flow(flow_to_motion_image_float(flow, m), m)
    np.testing.assert_allclose(np.hypot(back[0], back[1]), m, rtol=1e-5)
    np.testing.assert_allclose(back, clipped(flow, m), atol=1e-4)
    assert max_epe(motion_image_to_flow(flow_to_motion_image(flow, m), m), clipped(flow, m)) <= TOL * m


def test_zero_flow_is_exactly_white_and_decodes_to_exactly_zero():
    zero = np.zeros((2, 3, 4), np.float32)
    img = flow_to_motion_image(zero, 7.0)
    assert (img == 255).all()
    assert (flow_to_motion_image_float(zero, 7.0) == 1.0).all()
    back = motion_image_to_flow(img, 7.0)
    assert (back == 0).all()
    white = torch.full((3, 2, 2), 255, dtype=torch.uint8)
    assert (motion_image_to_flow(white, 1.0) == 0).all()


def test_hue_is_direction():
    # +x is red, -x cyan, +y (image down) chartreuse, -y violet; all at full saturation.
    flow = np.array([[[1.0, -1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0, -1.0]]], dtype=np.float32)
    img = flow_to_motion_image(flow, 1.0)[:, 0, :].T
    np.testing.assert_array_equal(img, [[255, 0, 0], [0, 255, 255], [128, 255, 0], [128, 0, 255]])
    # Half the scale is half saturation: the smallest channel is 1 - 0.5.
    half = flow_to_motion_image_float(flow * 0.5, 1.0)
    np.testing.assert_allclose(half.min(axis=0), 0.5, atol=1e-6)


def test_float_codec_is_exact_up_to_float32():
    rng = np.random.default_rng(1)
    flow = rng.uniform(-2, 2, (2, 32, 32)).astype(np.float32)
    img = flow_to_motion_image_float(flow, 3.0)
    assert img.dtype == np.float32 and img.min() >= 0 and img.max() <= 1
    np.testing.assert_allclose(motion_image_float_to_flow(img, 3.0), flow, atol=1e-5)


def test_batch_dims_and_numpy_torch_agree():
    rng = np.random.default_rng(2)
    flow = rng.normal(0, 4, (2, 3, 2, 5, 7)).astype(np.float32)  # (B, K, 2, H, W)
    img_np = flow_to_motion_image(flow, 6.0)
    img_t = flow_to_motion_image(torch.from_numpy(flow), 6.0)
    assert isinstance(img_t, torch.Tensor) and img_t.dtype == torch.uint8
    assert img_np.shape == (2, 3, 3, 5, 7)
    np.testing.assert_array_equal(img_np, img_t.numpy())
    # Batched equals per-item.
    np.testing.assert_array_equal(img_np[1, 2], flow_to_motion_image(flow[1, 2], 6.0))
    back_np = motion_image_to_flow(img_np, 6.0)
    back_t = motion_image_to_flow(img_t, 6.0)
    assert back_t.dtype == torch.float32 and back_np.shape == flow.shape
    np.testing.assert_allclose(back_np, back_t.numpy(), atol=1e-6)
    fl_np = flow_to_motion_image_float(flow, 6.0)
    fl_t = flow_to_motion_image_float(torch.from_numpy(flow), 6.0)
    np.testing.assert_allclose(fl_np, fl_t.numpy(), atol=1e-7)


def test_non_contiguous_and_readonly_numpy_inputs():
    flow = np.random.default_rng(3).normal(0, 1, (2, 6, 8)).astype(np.float32)
    flipped = flow[:, ::-1, ::-1]  # negative strides
    np.testing.assert_array_equal(flow_to_motion_image(flipped, 2.0), flow_to_motion_image(flipped.copy(), 2.0))
    ro = flow.copy()
    ro.flags.writeable = False
    assert flow_to_motion_image(ro, 2.0).shape == (3, 6, 8)


def test_torch_codec_is_differentiable_with_finite_gradients_at_zero_motion():
    flow = torch.zeros(2, 4, 4)
    flow[:, 1, 1] = torch.tensor([0.3, -0.2])
    flow.requires_grad_(True)
    img = flow_to_motion_image_float(flow, 1.0)
    img.sum().backward()
    assert torch.isfinite(flow.grad).all()
    pred = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0))
    pred[:, 0, 0] = 1.0  # a white pixel (no chroma) in a model's prediction
    pred.requires_grad_(True)
    motion_image_float_to_flow(pred, 2.0).square().sum().backward()
    assert torch.isfinite(pred.grad).all()


def test_float64_stays_float64_and_uint8_wrapper_rejects_float():
    flow = np.zeros((2, 2, 2), np.float64)
    assert flow_to_motion_image_float(flow, 1.0).dtype == np.float64
    with pytest.raises(ValueError, match="uint8"):
        motion_image_to_flow(np.ones((3, 2, 2), np.float32), 1.0)
    with pytest.raises(ValueError, match="float"):
        motion_image_float_to_flow(np.ones((3, 2, 2), np.uint8), 1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: flow_to_motion_image(np.zeros((3, 4, 4), np.float32), 1.0), r"\(\.\.\., 2, H, W\)"),
        (lambda: flow_to_motion_image(np.zeros((2, 4), np.float32), 1.0), r"\(\.\.\., 2, H, W\)"),
        (lambda: motion_image_to_flow(np.zeros((2, 4, 4), np.uint8), 1.0), r"\(\.\.\., 3, H, W\)"),
        (lambda: flow_to_motion_image(np.zeros((2, 4, 4), np.float32), 0.0), "max_magnitude"),
        (lambda: flow_to_motion_image(np.zeros((2, 4, 4), np.float32), float("nan")), "max_magnitude"),
        (lambda: flow_to_motion_image(np.zeros((2, 4, 4), np.int64), 1.0), "floating"),
        (lambda: flow_to_motion_image(np.full((2, 1, 1), np.nan, np.float32), 1.0), "NaN"),
        (lambda: flow_to_motion_image([[0.0]], 1.0), "numpy.ndarray or torch.Tensor"),
    ],
)
def test_bad_inputs_name_what_was_expected(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_stays_on_its_device():
    flow = torch.randn(2, 2, 8, 8, device="cuda")
    img = flow_to_motion_image(flow, 2.0)
    assert img.device == flow.device and img.dtype == torch.uint8
    back = motion_image_to_flow(img, 2.0)
    assert back.device == flow.device
    np.testing.assert_array_equal(img.cpu().numpy(), flow_to_motion_image(flow.cpu().numpy(), 2.0))

import math

import numpy as np
import pytest
import torch

from motionvla.flow import end_point_error, homography_flow, remove_camera_motion

H, W = 96, 128
OBJ = (slice(30, 62), slice(70, 106))  # a 32 x 36 patch moving on its own
OBJ_MOTION = (5.0, 3.0)


def camera_homography() -> np.ndarray:
    """Pan + zoom + roll about the image centre, with a little perspective."""
    c = np.array([[1, 0, (W - 1) / 2], [0, 1, (H - 1) / 2], [0, 0, 1]])
    a = math.radians(1.0)
    s = 1.03
    zoom_roll = np.array([[s * math.cos(a), -s * math.sin(a), 0], [s * math.sin(a), s * math.cos(a), 0], [0, 0, 1]])
    pan = np.array([[1, 0, 2.0], [0, 1, -1.5], [0, 0, 1]])
    hom = pan @ c @ zoom_roll @ np.linalg.inv(c)
    hom[2, :2] = [2e-5, -1e-5]  # mild perspective (tilt)
    return hom / hom[2, 2]


def scene(object_motion=OBJ_MOTION):
    cam = homography_flow(camera_homography(), H, W).astype(np.float32)
    flow = cam.copy()
    flow[0][OBJ] += object_motion[0]
    flow[1][OBJ] += object_motion[1]
    background = np.ones((H, W), bool)
    background[OBJ] = False
    return flow, cam, background


def test_homography_flow_of_identity_and_translation():
    assert np.abs(homography_flow(np.eye(3), 4, 5)).max() == 0
    shift = homography_flow(np.array([[1, 0, 2.5], [0, 1, -1], [0, 0, 1]]), 4, 5)
    np.testing.assert_allclose(shift[0], 2.5)
    np.testing.assert_allclose(shift[1], -1.0)


def test_camera_motion_removed_object_motion_kept():
    flow, cam, background = scene()
    zero = np.zeros_like(flow)
    before = end_point_error(flow, zero, background)
    rel, hom = remove_camera_motion(flow)
    after = end_point_error(rel, zero, background)
    # Measured: 2.73 px of camera motion on the background before, ~1e-7 px after.
    assert before > 2.0
    assert after < 0.05
    assert before / after > 20
    assert rel.dtype == np.float32 and rel.shape == flow.shape
    assert hom.dtype == np.float64 and hom.shape == (3, 3)
    np.testing.assert_allclose(hom, camera_homography(), atol=1e-4)
    # The object's own motion survives.
    obj = ~background
    target = np.zeros_like(flow)
    target[0], target[1] = OBJ_MOTION
    assert end_point_error(rel, target, obj) < 0.05


def test_noisy_flow_still_removes_the_camera():
    flow, _, background = scene()
    noisy = flow + np.random.default_rng(0).normal(0, 0.1, flow.shape).astype(np.float32)
    rel, _ = remove_camera_motion(noisy)
    # What is left on the background is the noise (mean |N(0, 0.1 I)| ~ 0.125 px), not the camera.
    assert end_point_error(rel, np.zeros_like(rel), background) < 0.15


def test_mask_lets_a_large_object_be_ignored():
    # An object covering most of the frame would win RANSAC's vote; the background mask prevents that.
    flow = homography_flow(camera_homography(), H, W).astype(np.float32)
    big = (slice(0, 96), slice(0, 90))  # 70% of the image
    flow[0][big] += 4.0
    background = np.ones((H, W), bool)
    background[big] = False
    rel_unmasked, _ = remove_camera_motion(flow)
    rel, _ = remove_camera_motion(flow, mask=background)
    zero = np.zeros_like(flow)
    assert end_point_error(rel, zero, background) < 0.05
    assert end_point_error(rel_unmasked, zero, background) > 1.0  # it fitted the object instead
    # torch input works and gives the same result
    rel_t, _ = remove_camera_motion(torch.from_numpy(flow), mask=background)
    np.testing.assert_allclose(rel_t, rel, atol=1e-5)


@pytest.mark.parametrize(
    "case",
    ["all_masked", "three_points", "all_nan", "collinear"],
)
def test_degenerate_input_returns_flow_and_identity(case):
    flow, _, _ = scene()
    mask = None
    if case == "all_masked":
        mask = np.zeros((H, W), bool)
    elif case == "three_points":
        mask = np.zeros((H, W), bool)
        mask[2, 2] = mask[2, 6] = mask[6, 2] = True
    elif case == "all_nan":
        flow = np.full_like(flow, np.nan)
    elif case == "collinear":
        mask = np.zeros((H, W), bool)
        mask[50, :] = True  # one image row: no homography is determined
    rel, hom = remove_camera_motion(flow, mask=mask)
    np.testing.assert_array_equal(hom, np.eye(3))
    np.testing.assert_array_equal(rel, flow)
    assert rel.dtype == np.float32


def test_bad_arguments():
    flow, _, _ = scene()
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        remove_camera_motion(flow[None])
    with pytest.raises(ValueError, match="mask"):
        remove_camera_motion(flow, mask=np.ones((H, W + 1), bool))
    with pytest.raises(ValueError, match="grid_step"):
        remove_camera_motion(flow, grid_step=0)

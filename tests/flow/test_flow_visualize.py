import numpy as np
import torch

from motionvla.flow import color_wheel, flow_to_motion_image, motion_image_to_flow, motion_strip


def test_motion_strip_layout():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 20, 24, 3), dtype=np.uint8)
    flows = rng.normal(0, 2, (2, 2, 20, 24)).astype(np.float32)
    strip = motion_strip(frames, flows, max_magnitude=4.0)
    assert strip.dtype == np.uint8
    assert strip.shape == (2 * 20 + 2, 3 * 24 + 2 * 2, 3)
    np.testing.assert_array_equal(strip[:20, 26:50], frames[1])
    np.testing.assert_array_equal(strip[22:42, 26:50], flow_to_motion_image(flows[1], 4.0).transpose(1, 2, 0))
    assert (strip[22:, 52:] == 96).all()  # no third flow: a grey cell, not white ("no motion")


def test_motion_strip_channel_first_float_and_torch_inputs():
    frames = torch.rand(2, 3, 16, 16)  # (T, 3, H, W) in [0, 1], as in flow samples
    flows = torch.zeros(4, 2, 16, 16)
    strip = motion_strip(frames, flows, max_magnitude=1.0, gap=0)
    assert strip.shape == (32, 64, 3) and strip.dtype == np.uint8
    assert (strip[16:, :] == 255).all()  # zero motion is white


def test_color_wheel():
    wheel = color_wheel(65, max_magnitude=3.0)
    assert wheel.shape == (65, 65, 3) and wheel.dtype == np.uint8
    np.testing.assert_array_equal(wheel[32, 32], [255, 255, 255])  # centre: no motion
    # Right of the centre is +x (red); decoding the legend gives flows pointing away from the centre.
    assert wheel[32, 60, 0] == 255 and wheel[32, 60, 1] < 60 and wheel[32, 60, 2] < 60
    decoded = motion_image_to_flow(wheel.transpose(2, 0, 1).copy(), 3.0)
    assert decoded[0, 32, 60] > 2.5 and abs(decoded[1, 32, 60]) < 0.1
    assert decoded[1, 60, 32] > 2.5  # below the centre is +y
    assert (wheel[0, 0] == 96).all()  # outside the disc
    assert color_wheel().shape == (64, 64, 3)

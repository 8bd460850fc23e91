"""Random-shift augmentation: exact translation, flow targets moving with the motion camera, off when acting."""

import numpy as np
import pytest
import torch

from motionvla.keys import MOTION_KEY
from motionvla.policy import MotionVLAConfig, MotionVLAPolicy
from motionvla.policy.augment import random_shift_batch, shift_images


def _shift_reference(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Pixel (r, c) of the result is the input at (r - dy, c - dx), clamped to the border (edge repeated)."""
    c, h, w = image.shape
    out = np.empty_like(image)
    for r in range(h):
        for col in range(w):
            out[:, r, col] = image[:, min(max(r - dy, 0), h - 1), min(max(col - dx, 0), w - 1)]
    return out


def test_shift_images_matches_an_explicit_translation_per_sample():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 2, 7, 9, generator=g)
    shifts = torch.tensor([[1, -2], [0, 0], [-3, 3]])
    got = shift_images(images, shifts, pad=3).numpy()
    for i, (dy, dx) in enumerate(shifts.tolist()):
        np.testing.assert_array_equal(got[i], _shift_reference(images[i].numpy(), dy, dx))


def test_shift_images_refuses_shifts_beyond_the_padding():
    with pytest.raises(ValueError, match="within ±2"):
        shift_images(torch.zeros(1, 1, 4, 4), torch.tensor([[3, 0]]), pad=2)


def test_flow_targets_move_with_the_motion_camera_only():
    b, size = 16, 32
    front = torch.zeros(b, 3, size, size)
    wrist = torch.zeros(b, 3, size, size)
    front[:, :, 10, 20] = 1.0
    wrist[:, :, 10, 20] = 1.0
    flow = torch.zeros(b, 2, 2, size // 2, size // 2)  # flow at half the image resolution
    flow[:, :, :, 5, 10] = 1.0  # the same spot as the bright pixel
    batch = {"observation.images.front": front, "observation.images.wrist": wrist, MOTION_KEY: flow}
    out = random_shift_batch(batch, ["observation.images.front", "observation.images.wrist"],
                             "observation.images.front", pad=4, generator=torch.Generator().manual_seed(1))
    moved_front = moved_wrist = 0
    for i in range(b):
        r, c = divmod(int(out["observation.images.front"][i, 0].argmax()), size)
        fr, fc = divmod(int(out[MOTION_KEY][i, 0, 0].argmax()), size // 2)
        # the flow spot moves by the image's offset at half resolution (rounded)
        assert abs(fr - r / 2) <= 0.5 and abs(fc - c / 2) <= 0.5
        wr, wc = divmod(int(out["observation.images.wrist"][i, 0].argmax()), size)
        moved_front += (r, c) != (10, 20)
        moved_wrist += (wr, wc) != (r, c)
        assert out[MOTION_KEY][i].sum() == flow[i].sum()  # vectors unchanged, only where they sit
    assert moved_front > b // 2 and moved_wrist > b // 2  # offsets drawn per sample and per camera
    assert batch["observation.images.front"][:, 0, 10, 20].eq(1).all()  # the input batch is not modified


def _loss(policy: MotionVLAPolicy, batch: dict, shift: int, training: bool) -> torch.Tensor:
    policy.config.image_shift_px = shift
    policy.train(training)
    torch.manual_seed(0)
    return policy(batch)[0]


def test_images_shift_in_training_only():
    cfg = MotionVLAConfig(device="cpu", image_size=32, motion_weight=0.0, image_keys=["observation.images.front"])
    policy = MotionVLAPolicy(cfg)
    batch = cfg.fake_batch(batch_size=4, with_targets=True)
    plain = _loss(policy, batch, 0, training=True)
    assert torch.equal(_loss(policy, batch, 3, training=False), plain)  # evaluation: never shifted
    assert not torch.equal(_loss(policy, batch, 3, training=True), plain)  # training: shifted images
    assert random_shift_batch(batch, cfg.image_keys, None, pad=0) is batch


def test_config_refuses_a_shift_of_half_the_image():
    with pytest.raises(ValueError, match="image_shift_px"):
        MotionVLAConfig(device="cpu", image_size=32, image_shift_px=16)

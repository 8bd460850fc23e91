"""Shared tiny policy fixtures."""

import pytest
import torch

from motionvla.policy import MotionVLAConfig


def tiny_config(**overrides) -> MotionVLAConfig:
    """A tiny CPU config: 32×32 images, 16 image tokens, 2-layer backbone, chunk 10."""
    base = dict(image_size=32, motion_resolution=16, device="cpu", num_inference_steps=3)
    base.update(overrides)
    return MotionVLAConfig(**base)


@pytest.fixture
def make_config():
    """The :func:`tiny_config` factory, for tests."""
    return tiny_config


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(2)

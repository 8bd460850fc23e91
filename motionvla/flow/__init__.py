"""Optical flow and motion images, shared by data prep, the flow forecaster and the policy.

- :mod:`~motionvla.flow.codec`: flow <-> motion image (HSV wheel, fixed scale, zero motion white), uint8 and float.
- :mod:`~motionvla.flow.estimation`: flow between frames with OpenCV DIS / Farneback or torchvision RAFT.
- :mod:`~motionvla.flow.relative`: camera-motion removal (homography + RANSAC).
- :mod:`~motionvla.flow.metrics`: end-point and angular error.
- :mod:`~motionvla.flow.scale`: the motion-image codec's scale measured from flows (the one function for it).
- :mod:`~motionvla.flow.resize`: flow resampled to another resolution, vectors rescaled.
- :mod:`~motionvla.flow.visualize`: frame/motion-image strips and a colour-wheel legend.
"""

from motionvla.flow.codec import (
    UINT8_EPE_BOUND,
    flow_to_motion_image,
    flow_to_motion_image_float,
    motion_image_float_to_flow,
    motion_image_to_flow,
)
from motionvla.flow.errors import FlowConfigError
from motionvla.flow.estimation import METHODS, FlowEstimator, estimate_flow
from motionvla.flow.metrics import angular_error, angular_error_map, end_point_error
from motionvla.flow.resize import motion_targets, resize_flow, resize_flows
from motionvla.flow.scale import codec_scale, flow_magnitudes
from motionvla.flow.relative import (
    CameraFit,
    fit_camera_motion,
    homography_flow,
    remove_camera_motion,
    subtract_camera_motion,
)
from motionvla.flow.visualize import color_wheel, motion_strip

__all__ = [
    "METHODS",
    "CameraFit",
    "UINT8_EPE_BOUND",
    "FlowConfigError",
    "FlowEstimator",
    "angular_error",
    "angular_error_map",
    "codec_scale",
    "color_wheel",
    "motion_targets",
    "resize_flows",
    "end_point_error",
    "estimate_flow",
    "fit_camera_motion",
    "flow_magnitudes",
    "flow_to_motion_image",
    "flow_to_motion_image_float",
    "homography_flow",
    "motion_image_float_to_flow",
    "motion_image_to_flow",
    "motion_strip",
    "remove_camera_motion",
    "resize_flow",
    "subtract_camera_motion",
]

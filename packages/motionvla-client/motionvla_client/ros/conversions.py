"""Message contents ↔ numpy, shared by both transports (no ROS import): camera images to the policy's
``(H, W, 3)`` uint8, joint states to ``observation.state``, the action to the output message's fields.

Outgoing messages are built as rosbridge-style dicts (what roslibpy sends as JSON); the rclpy transport
fills its message objects from the same dicts, so both transports publish identical contents.
"""

from __future__ import annotations

import base64
import io
from array import array
from typing import Any

import numpy as np

from motionvla_client.ros.config import ActionOutput

# sensor_msgs/Image encodings we read: channels, dtype, and the order to make RGB.
_ENCODINGS = {
    "rgb8": (3, np.uint8, [0, 1, 2]), "bgr8": (3, np.uint8, [2, 1, 0]),
    "rgba8": (4, np.uint8, [0, 1, 2]), "bgra8": (4, np.uint8, [2, 1, 0]),
    "mono8": (1, np.uint8, [0, 0, 0]), "8UC1": (1, np.uint8, [0, 0, 0]), "8UC3": (3, np.uint8, [0, 1, 2]),
}


def as_bytes(data: Any) -> bytes:
    """A uint8[] field as bytes: rclpy gives ``array('B')``/bytes, rosbridge JSON a base64 string or ints."""
    if isinstance(data, str):
        return base64.b64decode(data)
    if isinstance(data, (bytes, bytearray, memoryview, array)):
        return bytes(data)
    return np.asarray(data, dtype=np.uint8).tobytes()


def image_from_raw(height: int, width: int, encoding: str, step: int, data: Any) -> np.ndarray:
    """A ``sensor_msgs/Image`` as ``(height, width, 3)`` uint8 RGB; rows may be padded (``step`` bytes each)."""
    if encoding not in _ENCODINGS:
        raise ValueError(f"image encoding {encoding!r} is not supported; accepted: {', '.join(_ENCODINGS)}")
    channels, dtype, order = _ENCODINGS[encoding]
    raw = np.frombuffer(as_bytes(data), dtype=dtype)
    row = width * channels
    step = step or row
    if height <= 0 or width <= 0 or step < row or raw.size < step * (height - 1) + row:
        raise ValueError(f"image {width}x{height} {encoding} step {step}: data has only {raw.size} bytes")
    rows = np.lib.stride_tricks.as_strided(raw, shape=(height, row), strides=(step, 1))
    pixels = rows.reshape(height, width, channels)
    return np.ascontiguousarray(pixels[..., order])


def image_from_compressed(data: Any) -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (JPEG/PNG) as ``(H, W, 3)`` uint8 RGB, decoded by Pillow."""
    blob = as_bytes(data)
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("CompressedImage needs Pillow in the bridge's environment: "
                          "pip install 'motionvla-client[ros]'") from None
    with Image.open(io.BytesIO(blob)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of ``(h, w, 3)`` uint8 to ``(height, width, 3)`` uint8 (pixel-centre aligned, numpy only)."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = image.astype(np.float32)
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return np.clip(np.rint(top * (1 - wy) + bottom * wy), 0, 255).astype(np.uint8)


def joint_vector(names: list[str], values: Any, wanted: list[str]) -> np.ndarray:
    """The ``wanted`` joints' values from a JointState's ``names``/``values`` arrays, float32 in that order."""
    index = {name: i for i, name in enumerate(names)}
    missing = [j for j in wanted if j not in index]
    if missing:
        raise KeyError(f"joint state lacks joint(s) {', '.join(missing)} (it has {', '.join(names) or 'none'})")
    values = list(values)
    if any(index[j] >= len(values) for j in wanted):
        raise KeyError(f"joint state has {len(values)} values for {len(names)} names")
    return np.asarray([values[index[j]] for j in wanted], dtype=np.float32)


def _duration(seconds: float) -> dict[str, int]:
    whole = int(seconds)
    return {"sec": whole, "nanosec": int(round((seconds - whole) * 1e9))}


def action_message(output: ActionOutput, values: np.ndarray) -> dict[str, Any]:
    """The output message for the sent dims ``values`` (n,), as a rosbridge-style dict of fields."""
    data = [float(v) for v in values]
    if output.type == "trajectory_msgs/JointTrajectory":
        # A zero header stamp means "start now" to joint_trajectory_controller: streaming one point ahead.
        return {"header": {"stamp": {"sec": 0, "nanosec": 0}, "frame_id": ""}, "joint_names": list(output.joints),
                "points": [{"positions": data, "velocities": [], "accelerations": [], "effort": [],
                            "time_from_start": _duration(output.time_from_start_s)}]}
    if output.type == "std_msgs/Float64MultiArray":
        return {"layout": {"dim": [], "data_offset": 0}, "data": data}
    twist: dict[str, dict[str, float]] = {"linear": {"x": 0.0, "y": 0.0, "z": 0.0},
                                          "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}
    for name, value in zip(output.twist_fields, data):
        part, axis = name.split(".")
        twist[part][axis] = value
    return twist


def sent_dims(output: ActionOutput, action_dim: int | None) -> list[int]:
    """The action dims the output sends, in order; checks them against the policy's ``action_dim``."""
    width = {"trajectory_msgs/JointTrajectory": len(output.joints),
             "geometry_msgs/Twist": len(output.twist_fields)}.get(output.type)
    if output.indices is not None:
        dims = list(output.indices)
    elif width is not None:
        dims = list(range(width))
    elif action_dim is not None:
        dims = list(range(action_dim))
    else:
        raise ValueError("the policy does not say its action_dim: set action.indices for Float64MultiArray")
    if width is not None and len(dims) != width:
        raise ValueError(f"action sends {len(dims)} dims (action.indices) but {output.type} has {width} "
                         "(action.joints / action.twist_fields)")
    if action_dim is not None and any(d >= action_dim for d in dims):
        raise ValueError(f"action.indices {dims} out of range: the policy's action has {action_dim} dims")
    return dims


def state_dims(output: ActionOutput, joints: list[str] | None, dims: list[int]) -> list[int] | None:
    """For a position action: the ``observation.state`` entry each sent dim commands (see ``state_indices``)."""
    if output.mode != "position" or joints is None:
        return None
    if output.state_indices is not None:
        chosen = list(output.state_indices)
    elif output.type == "trajectory_msgs/JointTrajectory" and all(j in joints for j in output.joints):
        chosen = [joints.index(j) for j in output.joints]
    else:
        chosen = dims
    if len(chosen) != len(dims) or any(i >= len(joints) for i in chosen):
        raise ValueError(f"action.state_indices {chosen}: need one index < {len(joints)} per sent dim ({len(dims)})")
    return chosen


def tile_frames(frames: np.ndarray) -> np.ndarray:
    """Motion images ``(K, h, w, 3)`` (or one ``(h, w, 3)``) side by side as one ``(h, K*w, 3)`` uint8 image."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"motion images must be (K, h, w, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        frames = np.clip(frames * (255.0 if frames.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.concatenate(list(frames), axis=1))


def image_message(image: np.ndarray, frame_id: str = "") -> dict[str, Any]:
    """``(h, w, 3)`` uint8 as a ``sensor_msgs/Image`` dict (rgb8; ``data`` as bytes)."""
    h, w = image.shape[:2]
    return {"header": {"stamp": {"sec": 0, "nanosec": 0}, "frame_id": frame_id}, "height": int(h), "width": int(w),
            "encoding": "rgb8", "is_bigendian": 0, "step": int(w * 3), "data": np.ascontiguousarray(image).tobytes()}

"""The bridge's YAML config checks and message conversions, without ROS; the shipped example configs parse."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest

from motionvla_client.ros import conversions
from motionvla_client.ros.cli import main
from motionvla_client.ros.config import ConfigError, load_config, parse_config

EXAMPLES = Path(__file__).resolve().parents[3] / "packages" / "motionvla-client" / "examples"
BASE = {"cameras": [{"topic": "/cam", "key": "observation.images.front"}],
        "joint_state": {"topic": "/js", "joints": ["a", "b"]},
        "action": {"topic": "/cmd", "type": "std_msgs/Float64MultiArray", "mode": "position"}}


@pytest.mark.parametrize("name", ["bridge_arm7.yaml", "bridge_mobile_base.yaml"])
def test_example_configs_parse(name):
    config = load_config(EXAMPLES / name)
    assert config.cameras and config.action.topic


def test_defaults_and_camera_prefix():
    config = parse_config(BASE)
    assert config.cameras[0].key == "front" and config.cameras[0].qos.reliability == "best_effort"
    assert config.safety.enable_holdoff_s is None  # per transport: HOLDOFF_DEFAULTS (1 s rclpy, 5 s rosbridge)
    assert config.policy.timeout_s == 1.0 and config.rate_hz == 10
    assert parse_config({**BASE, "policy": {"blend": "rtc"}}).policy.blend == "rtc"  # real-time chunking


@pytest.mark.parametrize("change, message", [
    ({"rate": 5}, "unknown key(s) rate"),
    ({"action": {"topic": "/c", "type": "std_msgs/Float64MultiArray"}}, "action.mode is required"),
    ({"action": {"topic": "/c", "type": "geometry_msgs/Twist", "twist_fields": ["linear.w"]}}, "twist_fields"),
    ({"action": {"topic": "/c", "type": "trajectory_msgs/JointTrajectory"}}, "action.joints is required"),
    ({"action": {"topic": "/c", "type": "geometry_msgs/Twist", "mode": "position", "twist_fields": ["linear.x"]}},
     "does not fit"),
    ({"action": {"topic": "/c", "type": "sensor_msgs/Image"}}, "action.type='sensor_msgs/Image'; accepted"),
    ({"rate_hz": 0}, "rate_hz=0: expected a number > 0"),
    ({"cameras": [{"topic": "/c", "key": "x", "qos": {"durability": "forever"}}]}, "cameras[0].qos.durability"),
    ({"joint_state": None, "cameras": [{"topic": "/c", "key": "x"}], "limits": {"max_delta": 0.1}},
     "needs 'joint_state'"),
    ({"safety": {"fault_action": "explode"}}, "safety.fault_action"),
    ({"safety": {"enable_holdoff_s": -1}}, "safety.enable_holdoff_s=-1"),
    ({"policy": {"blend": "fade"}}, "policy.blend"),
])
def test_config_errors_name_the_key(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config({**BASE, **change})


def test_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    path = tmp_path / "bridge.yaml"
    path.write_text("action: [1, 2\n")
    assert main(["--config", str(path)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2


@pytest.mark.parametrize("encoding, channels, order", [("rgb8", 3, [0, 1, 2]), ("bgr8", 3, [2, 1, 0]),
                                                        ("rgba8", 4, [0, 1, 2]), ("mono8", 1, [0, 0, 0])])
def test_raw_images_with_padded_rows(encoding, channels, order):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (3, 5, channels), dtype=np.uint8)
    step = 5 * channels + 7  # padding at the end of each row
    rows = np.zeros((3, step), np.uint8)
    rows[:, :5 * channels] = pixels.reshape(3, -1)
    image = conversions.image_from_raw(3, 5, encoding, step, rows.tobytes())
    assert image.shape == (3, 5, 3) and np.array_equal(image, pixels[..., order])
    # rosbridge sends uint8[] as base64 text
    assert np.array_equal(conversions.image_from_raw(3, 5, encoding, step, base64.b64encode(rows.tobytes()).decode()),
                          image)


def test_bad_images_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="not supported"):
        conversions.image_from_raw(2, 2, "16UC1", 4, b"\0" * 8)
    with pytest.raises(ValueError, match="data has only"):
        conversions.image_from_raw(4, 4, "rgb8", 12, b"\0" * 20)


def test_compressed_images_decode():
    from PIL import Image

    pixels = np.zeros((6, 4, 3), np.uint8)
    pixels[:, :, 0] = 200
    blob = io.BytesIO()
    Image.fromarray(pixels).save(blob, format="PNG")
    assert np.array_equal(conversions.image_from_compressed(blob.getvalue()), pixels)


def test_resize_keeps_constant_images_and_shapes():
    image = np.full((48, 64, 3), 77, np.uint8)
    assert conversions.resize(image, 32, 32).shape == (32, 32, 3)
    assert np.all(conversions.resize(image, 32, 32) == 77)
    ramp = np.repeat(np.arange(0, 256, 4, dtype=np.uint8)[None, :, None], 3, axis=2).repeat(2, axis=0)
    small = conversions.resize(ramp, 2, 32)
    assert np.all(np.diff(small[0, :, 0].astype(int)) > 0)  # still increasing left to right


def test_joint_vector_orders_by_name_and_reports_missing():
    assert conversions.joint_vector(["b", "a"], [2.0, 1.0], ["a", "b"]).tolist() == [1.0, 2.0]
    with pytest.raises(KeyError, match="lacks joint"):
        conversions.joint_vector(["a"], [1.0], ["a", "b"])


def test_action_messages_for_each_output_type():
    trajectory = parse_config({**BASE, "action": {"topic": "/t", "type": "trajectory_msgs/JointTrajectory",
                                                  "joints": ["a", "b"], "time_from_start_s": 0.25}}).action
    msg = conversions.action_message(trajectory, np.array([0.1, 0.2]))
    assert msg["joint_names"] == ["a", "b"] and msg["points"][0]["positions"] == [0.1, 0.2]
    assert msg["points"][0]["time_from_start"] == {"sec": 0, "nanosec": 250_000_000}
    twist = parse_config({**BASE, "action": {"topic": "/v", "type": "geometry_msgs/Twist",
                                             "twist_fields": ["linear.x", "angular.z"]}}).action
    assert conversions.action_message(twist, np.array([0.5, -1.0])) == {
        "linear": {"x": 0.5, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": -1.0}}
    array = parse_config(BASE).action
    assert conversions.action_message(array, np.array([1.0]))["data"] == [1.0]


def test_sent_and_state_dims():
    config = parse_config({**BASE, "action": {"topic": "/t", "type": "trajectory_msgs/JointTrajectory",
                                              "joints": ["b", "a"]}})
    dims = conversions.sent_dims(config.action, action_dim=3)
    assert dims == [0, 1] and conversions.state_dims(config.action, ["a", "b"], dims) == [1, 0]
    with pytest.raises(ValueError, match="out of range"):
        conversions.sent_dims(parse_config({**BASE, "action": {**BASE["action"], "indices": [4]}}).action, 3)


def test_tile_frames_and_image_message():
    frames = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)
    tiled = conversions.tile_frames(frames)
    assert tiled.shape == (2, 6, 3) and np.array_equal(tiled[:, 3:], frames[1])
    msg = conversions.image_message(tiled)
    assert (msg["height"], msg["width"], msg["step"], len(msg["data"])) == (2, 6, 18, 36)

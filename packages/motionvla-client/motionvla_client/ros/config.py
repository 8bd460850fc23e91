"""The bridge's YAML config: which topics feed which observation keys, where the action goes, and the safety
limits. Parsed into plain dataclasses (no ROS import) and checked up front, so a typo fails at start-up
with one line naming the key, never on the robot.

Minimal example (see ``packages/motionvla-client/examples/`` for a 7-DoF arm and a mobile base)::

    policy: {host: 127.0.0.1, port: 8000, timeout_s: 1.0}
    rate_hz: 10
    observation_timeout_s: 0.5
    task: "pick up the red cube"
    cameras:
      - {topic: /camera/image_raw, type: sensor_msgs/Image, key: front}
    joint_state: {topic: /joint_states, joints: [j1, j2]}
    action:
      topic: /arm/command
      type: std_msgs/Float64MultiArray
      mode: position
    limits: {lower: -1.0, upper: 1.0, max_delta: 0.05}
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from motionvla_client.broker import BLEND_MODES

IMAGE_TYPES = ("sensor_msgs/Image", "sensor_msgs/CompressedImage")
ACTION_TYPES = ("trajectory_msgs/JointTrajectory", "std_msgs/Float64MultiArray", "geometry_msgs/Twist")
TWIST_FIELDS = tuple(f"{part}.{axis}" for part in ("linear", "angular") for axis in "xyz")
JOINT_FIELDS = ("position", "velocity", "effort")
RELIABILITY = ("reliable", "best_effort")
DURABILITY = ("volatile", "transient_local")
FAULT_ACTIONS = ("stop", "none")
#: ``safety.enable_holdoff_s`` when the config leaves it out, per transport (see :class:`Safety`).
HOLDOFF_DEFAULTS = {"rclpy": 1.0, "rosbridge": 5.0}
MODES = ("position", "velocity")


class ConfigError(ValueError):
    """The bridge config is wrong; the message names the key and what is accepted."""


@dataclass
class QoS:
    """Subscription/publisher QoS: ``reliability`` reliable|best_effort, ``durability`` volatile|transient_local,
    ``depth`` (history, keep-last). Over rosbridge only ``depth`` and transient_local (latch) apply."""

    reliability: str = "reliable"
    durability: str = "volatile"
    depth: int = 1


@dataclass
class CameraInput:
    """``topic`` of ``type`` (Image / CompressedImage) → ``observation.images.<key>``, resized to the policy's size."""

    topic: str
    key: str
    type: str = "sensor_msgs/Image"
    qos: QoS = dc_field(default_factory=lambda: QoS(reliability="best_effort"))


@dataclass
class JointStateInput:
    """``sensor_msgs/JointState`` → ``observation.state`` with ``joints`` in this order (``field`` of each)."""

    topic: str
    joints: list[str]
    field: str = "position"
    qos: QoS = dc_field(default_factory=lambda: QoS(reliability="best_effort"))


@dataclass
class ActionOutput:
    """Where the policy's action goes.

    ``indices``: which action dims are sent, in order (default: all). ``mode``: position (a fault holds the
    last command) or velocity (a fault sends zeros); fixed by ``type`` except for Float64MultiArray.
    ``joints`` names JointTrajectory's joints; ``twist_fields`` says which Twist field each sent dim fills.
    ``state_indices``: for a position action, the ``observation.state`` entry each sent dim commands (the
    reference of the first step's ``max_delta`` and of a hold before anything was sent); default: by joint
    name for JointTrajectory, else the same index as the action dim.
    """

    topic: str
    type: str
    mode: str
    indices: list[int] | None = None
    joints: list[str] = dc_field(default_factory=list)
    twist_fields: list[str] = dc_field(default_factory=list)
    time_from_start_s: float = 0.1
    state_indices: list[int] | None = None
    qos: QoS = dc_field(default_factory=QoS)


@dataclass
class Limits:
    """Per sent dim (a scalar applies to all): ``lower``/``upper`` bounds and ``max_delta`` per control step
    (action units). None: no limit of that kind."""

    lower: list[float] | float | None = None
    upper: list[float] | float | None = None
    max_delta: list[float] | float | None = None


@dataclass
class Safety:
    """Operator topics (all ``std_msgs/Bool``) and the optional uncertainty gate.

    ``enable_topic``: True enables, False disables. Only messages from after start-up count: the rclpy
    subscription is volatile, and on both transports anything in the first ``enable_holdoff_s`` (after
    start-up, and after a rosbridge reconnection) is ignored: a latched enable from before must not move the
    robot. Default hold-off: 1 s on rclpy, 5 s on rosbridge (rosbridge-server-rs replays a latched sample
    once its DDS subscription matches the publisher, which took up to 3.1 s here). ``estop_topic``: True
    halts and latches; only a True on ``estop_clear_topic`` clears it, and the bridge then needs a new
    enable. ``max_spread``: hold while the server's reported ``action_spread`` exceeds it (asks the server
    for ``num_samples`` extra samples).
    """

    enable_topic: str = "/motionvla/enable"
    estop_topic: str = "/motionvla/estop"
    estop_clear_topic: str = "/motionvla/estop_clear"
    status_topic: str = "/motionvla/status"
    enable_holdoff_s: float | None = None
    fault_action: str = "stop"
    stop_repeats: int = 3
    max_spread: float | None = None
    num_samples: int = 4


@dataclass
class PolicyEndpoint:
    """The policy server; ``timeout_s``: a reply later than this is a fault (the stop action).
    ``refill_fraction`` / ``blend``: the action-chunk broker's (ask early when this fraction of a chunk is
    left; cross-fade linear|exp|none, or rtc: real-time chunking on the server)."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    timeout_s: float = 1.0
    reconnect_timeout_s: float = 2.0
    refill_fraction: float = 0.5
    blend: str = "linear"


@dataclass
class BridgeConfig:
    """The whole config; see the module docstring."""

    action: ActionOutput
    cameras: list[CameraInput] = dc_field(default_factory=list)
    joint_state: JointStateInput | None = None
    instruction_topic: str | None = None
    task: str = ""
    policy: PolicyEndpoint = dc_field(default_factory=PolicyEndpoint)
    rate_hz: float = 10.0
    observation_timeout_s: float = 0.5
    limits: Limits = dc_field(default_factory=Limits)
    safety: Safety = dc_field(default_factory=Safety)
    preview_topic: str | None = None
    rosbridge_host: str = "127.0.0.1"
    rosbridge_port: int = 9090


def _take(data: dict[str, Any], where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; accepted: {', '.join(sorted(allowed))}")
    return data


def _choice(value: Any, where: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ConfigError(f"{where}={value!r}; accepted: {', '.join(accepted)}")
    return str(value)


def _positive(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r}: expected a number > 0") from None
    if not number > 0:
        raise ConfigError(f"{where}={value!r}: expected a number > 0")
    return number


def _qos(data: Any, where: str, default: QoS) -> QoS:
    if data is None:
        return QoS(default.reliability, default.durability, default.depth)
    data = _take(data, where, {"reliability", "durability", "depth"})
    depth = data.get("depth", default.depth)
    if not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"{where}.depth={depth!r}: expected an integer >= 1")
    return QoS(_choice(data.get("reliability", default.reliability), f"{where}.reliability", RELIABILITY),
               _choice(data.get("durability", default.durability), f"{where}.durability", DURABILITY), depth)


def _limit(value: Any, where: str) -> list[float] | float | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r}: expected a number or a list of numbers") from None
    return numbers if isinstance(value, list) else numbers[0]


def _action(data: Any) -> ActionOutput:
    data = _take(data, "action", {"topic", "type", "mode", "indices", "joints", "twist_fields",
                                  "time_from_start_s", "state_indices", "qos"})
    if "topic" not in data or "type" not in data:
        raise ConfigError(f"action needs 'topic' and 'type' (one of {', '.join(ACTION_TYPES)})")
    kind = _choice(data["type"], "action.type", ACTION_TYPES)
    fixed = {"trajectory_msgs/JointTrajectory": "position", "geometry_msgs/Twist": "velocity"}.get(kind)
    if fixed is None and "mode" not in data:
        raise ConfigError("action.mode is required for std_msgs/Float64MultiArray: position or velocity")
    mode = _choice(data.get("mode", fixed), "action.mode", MODES)
    if fixed is not None and mode != fixed:
        raise ConfigError(f"action.mode={mode!r} does not fit {kind} (always {fixed})")
    out = ActionOutput(topic=str(data["topic"]), type=kind, mode=mode, indices=data.get("indices"),
                       joints=[str(j) for j in data.get("joints", [])],
                       twist_fields=[str(f) for f in data.get("twist_fields", [])],
                       time_from_start_s=_positive(data.get("time_from_start_s", 0.1), "action.time_from_start_s"),
                       state_indices=data.get("state_indices"),
                       qos=_qos(data.get("qos"), "action.qos", QoS()))
    for name in ("indices", "state_indices"):
        value = getattr(out, name)
        if value is not None and not (isinstance(value, list) and all(isinstance(i, int) and i >= 0 for i in value)):
            raise ConfigError(f"action.{name}={value!r}: expected a list of integers >= 0")
    if kind == "trajectory_msgs/JointTrajectory" and not out.joints:
        raise ConfigError("action.joints is required for trajectory_msgs/JointTrajectory (the joint names)")
    if kind == "geometry_msgs/Twist":
        bad = [f for f in out.twist_fields if f not in TWIST_FIELDS]
        if not out.twist_fields or bad or len(set(out.twist_fields)) != len(out.twist_fields):
            raise ConfigError(f"action.twist_fields={out.twist_fields!r}: list distinct Twist fields, one per "
                              f"sent action dim, from {', '.join(TWIST_FIELDS)}")
    return out


def parse_config(data: Any) -> BridgeConfig:
    """A :class:`BridgeConfig` from the parsed YAML mapping; raises :class:`ConfigError` on any mistake."""
    data = _take(data, "config", {"policy", "rate_hz", "observation_timeout_s", "task", "cameras", "joint_state",
                                  "instruction", "action", "limits", "safety", "preview", "rosbridge"})
    if "action" not in data:
        raise ConfigError("config needs an 'action' section (topic, type)")
    policy = _take(data.get("policy", {}), "policy", set(PolicyEndpoint.__dataclass_fields__))
    endpoint = PolicyEndpoint(host=str(policy.get("host", "127.0.0.1")), port=int(policy.get("port", 8000)),
                              token=policy.get("token") or os.environ.get("MOTIONVLA_SERVE_TOKEN"),
                              timeout_s=_positive(policy.get("timeout_s", 1.0), "policy.timeout_s"),
                              reconnect_timeout_s=_positive(policy.get("reconnect_timeout_s", 2.0),
                                                            "policy.reconnect_timeout_s"),
                              refill_fraction=float(policy.get("refill_fraction", 0.5)),
                              blend=_choice(policy.get("blend", "linear"), "policy.blend", BLEND_MODES))
    if not 0.0 <= endpoint.refill_fraction <= 1.0:
        raise ConfigError(f"policy.refill_fraction={endpoint.refill_fraction}: expected a number in [0, 1]")
    cameras = []
    for i, cam in enumerate(data.get("cameras") or []):
        cam = _take(cam, f"cameras[{i}]", {"topic", "key", "type", "qos"})
        if "topic" not in cam or "key" not in cam:
            raise ConfigError(f"cameras[{i}] needs 'topic' and 'key' (the policy camera name, e.g. front)")
        key = str(cam["key"]).removeprefix("observation.images.")
        cameras.append(CameraInput(topic=str(cam["topic"]), key=key,
                                   type=_choice(cam.get("type", IMAGE_TYPES[0]), f"cameras[{i}].type", IMAGE_TYPES),
                                   qos=_qos(cam.get("qos"), f"cameras[{i}].qos", QoS(reliability="best_effort"))))
    joint_state = None
    if data.get("joint_state") is not None:
        js = _take(data["joint_state"], "joint_state", {"topic", "joints", "field", "qos"})
        if "topic" not in js or not js.get("joints"):
            raise ConfigError("joint_state needs 'topic' and 'joints' (the order of observation.state)")
        joint_state = JointStateInput(topic=str(js["topic"]), joints=[str(j) for j in js["joints"]],
                                      field=_choice(js.get("field", "position"), "joint_state.field", JOINT_FIELDS),
                                      qos=_qos(js.get("qos"), "joint_state.qos", QoS(reliability="best_effort")))
    instruction = _take(data.get("instruction") or {}, "instruction", {"topic"})
    limits = _take(data.get("limits") or {}, "limits", {"lower", "upper", "max_delta"})
    safety_in = _take(data.get("safety") or {}, "safety", set(Safety.__dataclass_fields__))
    safety = Safety(**safety_in)
    safety.fault_action = _choice(safety.fault_action, "safety.fault_action", FAULT_ACTIONS)
    if safety.max_spread is not None:
        safety.max_spread = _positive(safety.max_spread, "safety.max_spread")
    if safety.enable_holdoff_s is not None:
        if not isinstance(safety.enable_holdoff_s, (int, float)) or safety.enable_holdoff_s < 0:
            raise ConfigError(f"safety.enable_holdoff_s={safety.enable_holdoff_s!r}: expected seconds >= 0")
        safety.enable_holdoff_s = float(safety.enable_holdoff_s)
    preview = _take(data.get("preview") or {}, "preview", {"topic"})
    rosbridge = _take(data.get("rosbridge") or {}, "rosbridge", {"host", "port"})
    config = BridgeConfig(
        action=_action(data["action"]), cameras=cameras, joint_state=joint_state,
        instruction_topic=instruction.get("topic"), task=str(data.get("task", "")), policy=endpoint,
        rate_hz=_positive(data.get("rate_hz", 10.0), "rate_hz"),
        observation_timeout_s=_positive(data.get("observation_timeout_s", 0.5), "observation_timeout_s"),
        limits=Limits(_limit(limits.get("lower"), "limits.lower"), _limit(limits.get("upper"), "limits.upper"),
                      _limit(limits.get("max_delta"), "limits.max_delta")),
        safety=safety, preview_topic=preview.get("topic"),
        rosbridge_host=str(rosbridge.get("host", "127.0.0.1")), rosbridge_port=int(rosbridge.get("port", 9090)))
    if not config.cameras and config.joint_state is None:
        raise ConfigError("config maps no input: add 'cameras' and/or 'joint_state'")
    if config.action.mode == "position" and config.limits.max_delta is not None and config.joint_state is None:
        raise ConfigError("limits.max_delta on a position action needs 'joint_state' (the first step is limited "
                          "relative to the measured joints)")
    return config


def load_config(path: str | Path) -> BridgeConfig:
    """Read and check a bridge YAML file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML ({exc})") from exc
    return parse_config(data)

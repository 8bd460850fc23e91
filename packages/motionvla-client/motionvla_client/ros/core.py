"""The transport-independent bridge: latest inputs (with the time each arrived), the fixed-rate control
loop, the policy runner and the safety guard. A transport (rclpy or rosbridge) only turns messages into the
``on_*`` calls and publishes what :class:`BridgeCore` hands to its :class:`Outputs`.

Freshness is judged by *arrival* time on the bridge's monotonic clock, not by header stamps: stamps come
from other machines' clocks (or sim time) and a stalled camera driver can still stamp new messages.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from motionvla_client.ros import conversions
from motionvla_client.ros.config import HOLDOFF_DEFAULTS, BridgeConfig
from motionvla_client.ros.guard import ActionLimits, Command, SafetyGuard
from motionvla_client.ros.runner import PolicyRunner, WatchedClient

logger = logging.getLogger("motionvla_client.ros")
IMAGE_PREFIX, STATE_KEY, TASK_KEY = "observation.images.", "observation.state", "task"


class Outputs(Protocol):
    """What a transport publishes: the action message (a rosbridge-style dict), a status JSON string and,
    when configured, the motion preview image dict."""

    def publish_action(self, message: dict[str, Any]) -> None: ...

    def publish_status(self, text: str) -> None: ...

    def publish_preview(self, message: dict[str, Any]) -> None: ...


@dataclass
class _Latest:
    value: Any
    at: float


class BridgeCore:
    """Owns the bridge's state; thread-safe ``on_*`` input handlers, ``tick()`` once per control step.

    Args:
        config: the parsed bridge config.
        client: a PolicyClient (``infer``, ``get_server_metadata``).
        broker_factory: ``broker_factory(client) -> ActionChunkBroker``.
        outputs: the transport's publishers.
    """

    def __init__(self, config: BridgeConfig, client: Any, broker_factory: Callable[[Any], Any], outputs: Outputs,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.client, self.outputs, self.clock = config, client, outputs, clock
        self._lock = threading.Lock()
        self._images: dict[str, _Latest] = {}
        self._joints: _Latest | None = None
        self._task = config.task
        self.metadata: dict[str, Any] | None = None
        kwargs: dict[str, Any] = {}
        if config.safety.max_spread is not None:
            kwargs["num_samples"] = config.safety.num_samples
        if config.preview_topic:
            kwargs["motion_preview"] = True
        self.watched = WatchedClient(client, infer_kwargs=kwargs, on_reply=self._on_reply, clock=clock)
        # A lost connection wakes the control loop at once (it faults on its next step instead of up to a
        # period later).
        self._wake = threading.Event()
        listen = getattr(client, "add_connection_listener", None)
        if listen is not None:
            listen(lambda reason: self._wake.set())
        self._broker_factory = broker_factory
        self.runner: PolicyRunner | None = None
        self.guard: SafetyGuard | None = None
        self._pending_operator: list[tuple[str, bool, float]] = []
        self._start = clock()
        holdoff = config.safety.enable_holdoff_s
        self._holdoff = HOLDOFF_DEFAULTS["rclpy"] if holdoff is None else holdoff
        self._status = ("", "")
        self._gist = ("", "")
        self._status_at = -1e9
        self._spread: float | None = None
        #: Counts for the log and the tests: commands published by kind.
        self.published = {"policy": 0, "stop": 0}

    # ------------------------------------------------------------------ inputs (any thread)
    def on_image(self, key: str, image: np.ndarray) -> None:
        """A camera frame ``(h, w, 3)`` uint8 RGB for policy camera ``key`` (without the prefix)."""
        with self._lock:
            self._images[key] = _Latest(image, self.clock())

    def on_joint_state(self, names: list[str], values: Any) -> None:
        """A JointState's names and the configured field's values."""
        js = self.config.joint_state
        assert js is not None
        try:
            vector = conversions.joint_vector(list(names), values, js.joints)
        except KeyError as exc:
            logger.warning("ignoring a joint state: %s", exc.args[0])
            return
        with self._lock:
            self._joints = _Latest(vector, self.clock())

    def on_instruction(self, text: str) -> None:
        """A new task instruction (the policy's ``task``)."""
        with self._lock:
            self._task = str(text)
        logger.info("task: %r", text)

    def on_operator(self, what: str, value: bool) -> None:
        """An enable (``enable``), e-stop (``estop``) or clear (``clear``) message."""
        now = self.clock()
        with self._lock:
            if self.guard is None:  # not connected to the policy yet: keep it for when the guard exists
                self._pending_operator.append((what, bool(value), now))
                return
            self._operate(what, bool(value), now)

    def rearm_holdoff(self, why: str) -> None:
        """Ignore enables for another hold-off window (the transport re-subscribed: latched samples again)."""
        with self._lock:
            if self.guard is not None:
                self.guard.rearm_holdoff(self.clock())
        logger.warning("%s: enables ignored for %g s", why, self._holdoff)

    # ------------------------------------------------------------------ set-up
    def connect(self, stop: threading.Event) -> bool:
        """Fetch the server's metadata (retrying until ``stop``) and build the guard; False if stopped first."""
        while not stop.is_set():
            try:
                metadata = self.client.get_server_metadata()
                break
            except Exception as exc:  # noqa: BLE001 -- any failure means: not there yet, try again
                logger.warning("policy server not reachable yet (%s: %s); retrying", type(exc).__name__, exc)
                stop.wait(1.0)
        else:
            return False
        self.attach(metadata)
        return True

    def attach(self, metadata: dict[str, Any]) -> None:
        """Check the config against the policy's metadata and create the runner and guard."""
        cfg = self.config
        action_dim = metadata.get("action_dim")
        state_dim = metadata.get("state_dim")
        joints = cfg.joint_state.joints if cfg.joint_state else None
        if state_dim is not None and joints is not None and len(joints) != state_dim:
            raise ValueError(f"joint_state.joints has {len(joints)} joints but the policy expects a "
                             f"{state_dim}-dim observation.state")
        cameras = {k.removeprefix(IMAGE_PREFIX): v for k, v in (metadata.get("cameras") or {}).items()}
        missing = [k for k in cameras if k not in {c.key for c in cfg.cameras}]
        if missing:
            raise ValueError(f"the policy needs camera(s) {', '.join(missing)}; map a topic to each under 'cameras'")
        self.metadata = metadata
        self._sizes = {k: (int(v[0]), int(v[1])) for k, v in cameras.items()}
        self._dims = conversions.sent_dims(cfg.action, action_dim)
        self._state_dims = conversions.state_dims(cfg.action, joints, self._dims)
        limits = ActionLimits(cfg.limits, len(self._dims))
        broker = self._broker_factory(self.watched)
        self.runner = PolicyRunner(broker, self.watched, cfg.policy.timeout_s, clock=self.clock)
        with self._lock:
            self.guard = SafetyGuard(limits, cfg.action.mode, fault_action=cfg.safety.fault_action,
                                     stop_repeats=cfg.safety.stop_repeats,
                                     enable_holdoff_s=self._holdoff, start_time=self._start)
            for what, value, at in self._pending_operator:
                self._operate(what, value, at)
            self._pending_operator.clear()
        logger.info("policy %s: action dims sent %s, cameras %s", metadata.get("policy_type", "?"), self._dims,
                    self._sizes or "as received")

    # ------------------------------------------------------------------ control loop
    def tick(self) -> Command | None:
        """One control step: gather, ask the policy (if enabled), let the guard decide, publish."""
        if self.guard is None or self.runner is None:
            return None
        period = 1.0 / self.config.rate_hz
        now = self.clock()
        obs, fault, measured = self._observation(now)
        with self._lock:
            active = self.guard.enabled and not self.guard.estopped
        action = None
        if active and fault is None:
            raw, fault = self.runner.step(obs, budget_s=0.5 * period)
            if raw is not None:
                action = raw[self._dims] if raw.shape[0] > max(self._dims) else None
                if action is None:
                    fault = f"policy returned a {raw.shape[0]}-dim action; the output needs dims {self._dims}"
            if fault is None and self._spread is not None and self._spread > self.config.safety.max_spread:
                fault = f"policy unsure: action spread {self._spread:.3g} > {self.config.safety.max_spread:g}"
        elif active:
            self.runner.reset()
        with self._lock:
            command = self.guard.decide(fault, action, measured)
            state, reason = self.guard.state, self.guard.reason
        if command is not None:
            self.outputs.publish_action(conversions.action_message(self.config.action, command.values))
            self.published[command.kind] += 1
        elif state == "running":  # enabled and unfaulted, but nothing to publish this step: say so
            state, reason = "waiting", "no action yet (the first chunk, or a reply not late yet)"
        self._report(state, reason, now)
        return command

    def run(self, stop: threading.Event) -> None:
        """Connect, then tick at ``rate_hz`` until ``stop`` is set (a late step is not made up for)."""
        if not self.connect(stop):
            return
        period = 1.0 / self.config.rate_hz
        next_at = self.clock()
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a bug in one step must not leave the last command executing silently
                logger.exception("control step failed; sending the stop command")
                self._emergency_stop()
            next_at += period
            delay = next_at - self.clock()
            if delay < 0:
                next_at = self.clock()  # overran: skip, do not burst to catch up
            if self._wake.wait(max(0.0, delay)) and not stop.is_set():
                self._wake.clear()  # the policy connection was lost: step now, keep the period from here
                next_at = self.clock()
        if self.runner is not None:
            self.runner.close()

    def shutdown(self) -> None:
        """Leaving: disable and send the stop commands (if the robot was moved), so that the last policy
        command does not keep executing after the bridge is gone."""
        with self._lock:
            if self.guard is None:
                return
            self.guard.enable(False, self.clock())
            commands = [self.guard.decide(None, None, None) for _ in range(self.guard.stop_repeats)]
        for command in commands:
            if command is not None:
                self.outputs.publish_action(conversions.action_message(self.config.action, command.values))
        self._report("disabled", "bridge shutting down", self.clock())

    # ------------------------------------------------------------------ internals
    def _operate(self, what: str, value: bool, now: float) -> None:
        assert self.guard is not None
        if what == "enable":
            result = self.guard.enable(value, now)
        elif what == "estop":
            result = self.guard.estop(now) if value else "ignored: estop False (only a clear releases it)"
        elif what == "clear":
            result = self.guard.clear(now) if value else "ignored: clear False"
        else:
            raise ValueError(f"unknown operator input {what!r}")
        (logger.warning if "e-stop" in result else logger.info)("%s %s: %s", what, value, result)
        if result == "enabled" and self.runner is not None:
            self.runner.reset()
            self.watched.forget_errors()

    def _observation(self, now: float) -> tuple[dict[str, Any], str | None, np.ndarray | None]:
        cfg, limit = self.config, self.config.observation_timeout_s
        obs: dict[str, Any] = {}
        with self._lock:
            images, joints, task = dict(self._images), self._joints, self._task
        measured = None
        if joints is not None and self._state_dims is not None:
            measured = joints.value[self._state_dims].astype(np.float64)
        for cam in cfg.cameras:
            latest = images.get(cam.key)
            if latest is None:
                return obs, f"no image yet on {cam.topic}", measured
            if now - latest.at > limit:
                return obs, f"stale observation: {cam.topic} is {now - latest.at:.2f} s old (> {limit:g} s)", measured
            size = self._sizes.get(cam.key)
            obs[IMAGE_PREFIX + cam.key] = latest.value if size is None else conversions.resize(latest.value, *size)
        if cfg.joint_state is not None:
            if joints is None:
                return obs, f"no joint state yet on {cfg.joint_state.topic}", measured
            if now - joints.at > limit:
                return (obs, f"stale observation: {cfg.joint_state.topic} is {now - joints.at:.2f} s old "
                        f"(> {limit:g} s)", measured)
            if not np.all(np.isfinite(joints.value)):
                return obs, f"joint state on {cfg.joint_state.topic} is not finite", None
            obs[STATE_KEY] = joints.value
        obs[TASK_KEY] = task
        return obs, None, measured

    def _on_reply(self, reply: dict[str, Any]) -> None:
        spread = reply.get("action_spread")
        self._spread = None if spread is None else float(np.max(np.asarray(spread, dtype=np.float64)))
        frames = reply.get("motion_images")
        if self.config.preview_topic and frames is not None:
            self.outputs.publish_preview(conversions.image_message(conversions.tile_frames(frames)))

    def _report(self, state: str, reason: str, now: float) -> None:
        # Numbers (ages, spreads) change every step: compare the words, so a lasting fault is logged once.
        gist = (state, re.sub(r"[-\d.]+", "#", reason))
        changed = gist != self._gist and not (state == "running" and self._gist[0] == "running")
        self._gist = gist
        if changed:
            log = logger.warning if state in ("fault", "estop") else logger.info
            log("state %s: %s", state, reason)
        if changed or now - self._status_at >= 1.0:
            self._status, self._status_at = (state, reason), now
            self.outputs.publish_status(json.dumps({"state": state, "reason": reason, "t": round(now - self._start, 3),
                                                    "published": self.published}))

    def _emergency_stop(self) -> None:
        with self._lock:
            command = self.guard.decide("control step failed", None, None) if self.guard else None
        if command is not None:
            self.outputs.publish_action(conversions.action_message(self.config.action, command.values))

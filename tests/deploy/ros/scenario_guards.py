"""Scenario (ROS venv, inside the test's network namespace): the rclpy bridge against a running
``motionvla serve``, phase by phase; writes what it measured as JSON for test_bridge_rclpy.py to judge.

Phases: latched enable before start-up → enable → stale camera → policy stall (SIGSTOP of the server) →
policy NaN (a sensor glitch makes the checkpoint's actions NaN; the server refuses to send them) → e-stop,
enable attempt, clear, enable → a second bridge with the uncertainty gate and motion preview on.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rosgraph import Robot, bridge_config, start_bridge, write_result  # noqa: E402

ENABLE, ESTOP, CLEAR = "/motionvla/enable", "/motionvla/estop", "/motionvla/estop_clear"


def state_is(*names: str):
    return lambda s: s.get("state") in names


def holds_after(robot: Robot, t: float) -> dict:
    """Whether every action from ``t`` on repeats one value (the hold), and how many there were."""
    later = [v for _, v in robot.actions_since(t)]
    same = all(np.allclose(v, later[0], atol=1e-9) for v in later) if later else True
    return {"count": len(later), "all_same": bool(same)}


def run(args: argparse.Namespace) -> dict:
    log_dir = Path(args.log_dir)
    out: dict = {"phases": {}}
    robot = Robot([f"j{i}" for i in range(1, 8)], "/arm/joint_trajectory").start()
    procs = []
    try:
        # A latched enable from "before start-up": it must not enable the bridge.
        robot.send(ENABLE, True, latched=True)
        t0 = time.monotonic()
        bridge = start_bridge(bridge_config(args.port, policy={"blend": args.blend}), log_dir)
        procs.append(bridge)
        up = robot.wait_status(t0, state_is("disabled"), timeout=30)
        out["bridge_up_s"] = None if up is None else up[0] - t0
        time.sleep(2.5)  # past the 1 s hold-off: a latched enable would have arrived by now
        out["pre_enable"] = {"actions": len(robot.actions), "state": robot.last_status().get("state")}

        t_enable = time.monotonic()
        robot.send(ENABLE, True)
        deadline = t_enable + 12
        while len(robot.actions_since(t_enable)) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        moving = robot.actions_since(t_enable)
        values = np.asarray([v for _, v in moving]) if moving else np.zeros((0, 7))
        steps = np.abs(np.diff(np.vstack([np.zeros((1, 7)), values]), axis=0)) if len(values) else np.zeros((0, 7))
        out["enable"] = {"actions": len(moving), "first_after_s": moving[0][0] - t_enable if moving else None,
                         "max_abs": float(np.abs(values).max()) if len(values) else None,
                         "max_step": float(steps.max()) if len(steps) else None,
                         "at_delta_limit": int(np.sum(np.isclose(steps, 0.05))),
                         "at_bounds": int(np.sum(np.isclose(np.abs(values), 0.5)))}

        # Stale observations: the camera stops.
        t_stale = time.monotonic()
        robot.camera_on = False
        hit = robot.wait_status(t_stale, lambda s: s.get("state") == "fault" and "stale" in s.get("reason", ""), 5)
        out["stale"] = {"latency_s": None if hit is None else hit[0] - t_stale,
                        "reason": None if hit is None else hit[1]["reason"]}
        if hit is not None:
            time.sleep(1.0)
            out["stale"]["hold"] = holds_after(robot, hit[0] + 0.15)
        robot.camera_on = True
        back = robot.wait_status(time.monotonic(), state_is("running"), 10)
        out["stale"]["recovered"] = back is not None

        # Policy stall: the server process is frozen.
        t_stall = time.monotonic()
        os.kill(args.server_pid, signal.SIGSTOP)
        try:
            hit = robot.wait_status(t_stall, lambda s: s.get("state") == "fault" and "policy" in s.get("reason", ""), 8)
            out["stall"] = {"latency_s": None if hit is None else hit[0] - t_stall,
                            "reason": None if hit is None else hit[1]["reason"]}
            if hit is not None:
                time.sleep(1.0)
                out["stall"]["hold"] = holds_after(robot, hit[0] + 0.15)
        finally:
            os.kill(args.server_pid, signal.SIGCONT)
        t_cont = time.monotonic()
        back = robot.wait_status(t_cont, state_is("running"), 15)
        out["stall"]["recovered_after_s"] = None if back is None else back[0] - t_cont

        # NaN: a glitch on joint 7 makes this checkpoint's actions NaN; the server refuses to send them.
        t_nan = time.monotonic()
        robot.sensor_offset[6] = 5.0
        hit = robot.wait_status(t_nan, lambda s: s.get("state") == "fault", 8)
        out["nan"] = {"latency_s": None if hit is None else hit[0] - t_nan,
                      "reason": None if hit is None else hit[1]["reason"]}
        if hit is not None:
            time.sleep(1.0)
            out["nan"]["hold"] = holds_after(robot, hit[0] + 0.15)
        robot.sensor_offset[6] = 0.0
        back = robot.wait_status(time.monotonic(), state_is("running"), 10)
        out["nan"]["recovered"] = back is not None

        # E-stop: halts, and an enable does not undo it; only a clear (then a new enable) does.
        t_estop = time.monotonic()
        robot.send(ESTOP, True)
        hit = robot.wait_status(t_estop, state_is("estop"), 3)
        out["estop"] = {"latency_s": None if hit is None else hit[0] - t_estop}
        policy_at_estop = (hit[1].get("published", {}).get("policy") if hit else None)
        robot.send(ENABLE, True)
        time.sleep(1.5)
        after = robot.last_status()
        out["estop"].update(state_after_enable=after.get("state"),
                            policy_published_since=(after.get("published", {}).get("policy", 0) - policy_at_estop)
                            if policy_at_estop is not None else None,
                            hold=holds_after(robot, t_estop + 0.3))
        robot.send(CLEAR, True)
        cleared = robot.wait_status(time.monotonic(), state_is("disabled"), 3)
        time.sleep(0.8)
        out["estop"]["after_clear"] = {"state": None if cleared is None else cleared[1]["state"],
                                       "actions_0.5s_after": len(robot.actions_since(time.monotonic() - 0.5))}
        t_re = time.monotonic()
        robot.send(ENABLE, True)
        back = robot.wait_status(t_re, state_is("running"), 10)
        out["estop"]["reenabled"] = back is not None
        out["non_finite_published"] = int(sum(not np.all(np.isfinite(v)) for _, v in robot.actions))

        t_stop = time.monotonic()
        code = bridge.stop(signal.SIGTERM)
        out["shutdown"] = {"exit_code": code, "stop_commands": len(robot.actions_since(t_stop))}

        # Uncertainty gate + motion preview: a second bridge that holds while the spread exceeds ~0.
        gate = bridge_config(args.port, policy={"blend": args.blend}, safety={"enable_holdoff_s": 0.5, "max_spread": 1e-9, "num_samples": 2},
                             preview={"topic": "/motionvla/motion_preview"})
        t_gate = time.monotonic()
        bridge2 = start_bridge(gate, log_dir, name="bridge_gate")
        procs.append(bridge2)
        robot.wait_status(t_gate, state_is("disabled"), 30)
        time.sleep(0.7)
        robot.send(ENABLE, True)
        hit = robot.wait_status(t_gate, lambda s: s.get("state") == "fault" and "unsure" in s.get("reason", ""), 10)
        time.sleep(1.0)
        out["gate"] = {"reason": None if hit is None else hit[1]["reason"],
                       "policy_published": robot.last_status().get("published", {}).get("policy"),
                       "previews": len(robot.previews),
                       "preview_shape": list(robot.previews[-1][1:]) if robot.previews else None}
        bridge2.stop(signal.SIGTERM)
        return out
    finally:
        robot.close()
        for proc in procs:
            proc.stop()
        write_result(args.out, out, procs)


def parse_args() -> argparse.Namespace:
    """What the harness passes a scenario that runs against the shared, already running server."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--log-dir", required=True)
    # The broker's chunk blending: "linear" (cross-fade, the default) or "rtc" (real-time chunking).
    parser.add_argument("--blend", default="linear")
    return parser.parse_args()


def main() -> None:
    run(parse_args())


if __name__ == "__main__":
    main()

"""Scenario (ROS venv, in the test's namespace): the policy server dies and comes back.

The bridge runs → the server is killed (watchdog) → an e-stop arrives while it is down → the server is
started again → an enable must not undo the e-stop → clear, enable: the bridge reconnects and moves again.
The scenario owns its server (it kills it), on its own port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rosgraph import Robot, bridge_config, start_bridge, start_server, write_result  # noqa: E402
from scenario_guards import CLEAR, ENABLE, ESTOP, holds_after, state_is  # noqa: E402


def run(args: argparse.Namespace) -> dict:
    log_dir = Path(args.log_dir)
    out: dict = {}
    robot = Robot([f"j{i}" for i in range(1, 8)], "/arm/joint_trajectory").start()
    t0 = time.monotonic()
    server = start_server(args.motionvla, args.checkpoint, args.port, log_dir, name="server1")
    procs = [server]
    try:
        bridge = start_bridge(bridge_config(args.port), log_dir)  # before the server is up: it must wait for it
        procs.append(bridge)
        if not server.wait_for_line("serving on", 180):
            raise RuntimeError("the first server did not come up")
        out["server_start_s"] = time.monotonic() - t0
        robot.wait_status(t0, state_is("disabled"), 30)
        time.sleep(1.1)  # past the hold-off
        t_enable = time.monotonic()
        robot.send(ENABLE, True)
        running = robot.wait_status(t_enable, state_is("running"), 15)
        time.sleep(0.5)
        out["running_before"] = running is not None and len(robot.actions_since(t_enable)) > 0

        t_kill = time.monotonic()
        server.stop(signal.SIGKILL)
        hit = robot.wait_status(t_kill, lambda s: s.get("state") == "fault", 8)
        out["kill"] = {"latency_s": None if hit is None else hit[0] - t_kill,
                       "reason": None if hit is None else hit[1]["reason"]}
        if hit is not None:
            time.sleep(1.0)
            out["kill"]["hold"] = holds_after(robot, hit[0] + 0.15)

        robot.send(ESTOP, True)
        estop = robot.wait_status(time.monotonic(), state_is("estop"), 3)
        out["estopped"] = estop is not None
        policy_count = robot.last_status().get("published", {}).get("policy")

        t_restart = time.monotonic()
        server2 = start_server(args.motionvla, args.checkpoint, args.port, log_dir, name="server2")
        procs.append(server2)
        if not server2.wait_for_line("serving on", 180):
            raise RuntimeError("the restarted server did not come up")
        out["server_restart_s"] = time.monotonic() - t_restart
        robot.send(ENABLE, True)
        time.sleep(2.0)
        status = robot.last_status()
        out["after_restart"] = {"state": status.get("state"),
                                "policy_published_since": status.get("published", {}).get("policy", 0) - policy_count,
                                "hold": holds_after(robot, estop[0] + 0.2) if estop else None}

        robot.send(CLEAR, True)
        robot.wait_status(time.monotonic(), state_is("disabled"), 3)
        t_re = time.monotonic()
        robot.send(ENABLE, True)
        back = robot.wait_status(t_re, state_is("running"), 15)
        time.sleep(0.5)
        out["reconnected"] = {"after_s": None if back is None else back[0] - t_re,
                              "actions": len(robot.actions_since(t_re))}

        # More kills while running, each server started again: the fault latency over every kill.
        latencies = [out["kill"]["latency_s"]]
        for n in range(args.extra_kills):
            killed_at = time.monotonic()
            procs[-1].stop(signal.SIGKILL)
            hit = robot.wait_status(killed_at, lambda s: s.get("state") == "fault", 8)
            latencies.append(None if hit is None else hit[0] - killed_at)
            again = start_server(args.motionvla, args.checkpoint, args.port, log_dir, name=f"server{n + 3}")
            procs.append(again)
            if not again.wait_for_line("serving on", 180):
                raise RuntimeError(f"server{n + 3} did not come up")
            robot.send(CLEAR, True)
            robot.wait_status(time.monotonic(), state_is("disabled"), 3)
            time.sleep(1.1)  # past the hold-off
            t_on = time.monotonic()
            robot.send(ENABLE, True)
            if robot.wait_status(t_on, state_is("running"), 15) is None:
                raise RuntimeError(f"the bridge did not run again after server{n + 3} came up")
            time.sleep(0.3)
        out["kill_latencies_s"] = latencies
        return out
    finally:
        robot.close()
        for proc in reversed(procs):
            proc.stop()
        write_result(args.out, out, procs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--motionvla", required=True, help="the project venv's motionvla command")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--extra-kills", type=int, default=4)
    run(parser.parse_args())


if __name__ == "__main__":
    main()

"""The rclpy bridge while ``motionvla serve`` is killed and started again (scenario_restart.py): the watchdog
holds, an e-stop taken while the server is down survives its restart and a new enable, and after a clear
and an enable the bridge reconnects and moves again. Costs two server start-ups."""

from __future__ import annotations

import pytest

from tests.deploy.ros.harness import explain, motionvla_command, run_scenario

PORT = 18001  # the scenario's own server (the shared one stays on 18000)

# The first test also waits for the module's scenario (server start-ups included): more than the default 120 s.
pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


@pytest.fixture(scope="module")
def scenario(netns, ros_checkpoint, tmp_path_factory):
    result = run_scenario(netns, "scenario_restart.py", ["--port", str(PORT), "--motionvla", motionvla_command(),
                                                          "--checkpoint", ros_checkpoint],
                          tmp_path_factory.mktemp("restart"), domain_id=22, timeout=540)
    print(f"\nscenario_restart: {result['wall_s']:.1f} s (server start {result.get('server_start_s')}, "
          f"restart {result.get('server_restart_s')} s); fault after a kill {result.get('kill_latencies_s')} s")
    return result


def test_bridge_waits_for_the_server_then_runs(scenario):
    assert scenario["running_before"], explain(scenario, "bridge", "server1")


def test_watchdog_holds_when_the_server_dies(scenario):
    kill = scenario["kill"]
    assert kill["latency_s"] is not None, explain(scenario, "bridge")
    assert kill["reason"].startswith("policy server connection lost"), explain(scenario, "bridge")
    assert kill["hold"]["count"] > 0 and kill["hold"]["all_same"]


def test_a_killed_server_is_a_fault_within_0_2_s_every_time(scenario):
    """The closed websocket is noticed when it happens, not at the next refill (5 kills, worst case)."""
    latencies = scenario["kill_latencies_s"]
    assert len(latencies) == 5 and None not in latencies, explain(scenario, "bridge")
    assert max(latencies) <= 0.2, (latencies, explain(scenario, "bridge"))


def test_estop_survives_a_server_restart_and_a_new_enable(scenario):
    assert scenario["estopped"], explain(scenario, "bridge")
    after = scenario["after_restart"]
    assert after["state"] == "estop" and after["policy_published_since"] == 0, explain(scenario, "bridge")
    assert after["hold"]["all_same"]


def test_reconnects_after_the_restart(scenario):
    reconnected = scenario["reconnected"]
    assert reconnected["after_s"] is not None and reconnected["actions"] > 0, explain(scenario, "bridge", "server2")

"""The closed-loop RTC benchmark's simulated delay: a reply merges exactly ``d`` control steps after its request,
actions keep executing meanwhile, and a robot with nothing to execute holds (counted as idle steps)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "rtc_closed_loop.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("rtc_closed_loop", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CountingClient:
    """Chunk k (k = 0, 1, ...) is ``[100 k + i for i in range(n)]``; records every request."""

    def __init__(self, n: int = 10):
        self.n, self.requests = n, []

    def infer(self, obs):
        self.requests.append(dict(obs))
        k = len(self.requests) - 1
        return {"actions": (100.0 * k + np.arange(self.n, dtype=np.float32))[:, None]}


def executed(broker, steps: int) -> list[float]:
    return [float(broker.act({"step": t})[0]) for t in range(steps)]


@pytest.mark.parametrize("delay", [0, 2, 4])
def test_a_reply_lands_d_steps_after_its_request_while_the_plan_keeps_executing(bench, delay):
    broker = bench.DelayedBroker(CountingClient(), delay, refill_fraction=bench.refill_fraction("naive", delay, 10),
                                 blend="none")
    actions = executed(broker, 30)
    broker.close()
    # The first chunk: nothing to execute until it lands, the robot holds `delay` steps.
    assert broker.idle_steps == delay and actions[0] == 0.0
    # Every later seam: the request went out with the plan's remaining actions, and its reply is merged `delay` steps
    # later, i.e. `delay + 1` actions after the observation's own step (the broker's latency).
    assert [s.latency_steps for s in broker.seams] == [delay + 1] * len(broker.seams) and broker.seams
    first = broker.seams[0].step
    assert actions[first] == 100.0 + delay + 1  # chunk 1 from its action d + 1: those before are in the past


def test_a_delay_near_the_chunk_length_leaves_the_plan_dry(bench):
    """d = 8 of a 10-action chunk: each reply has one action not yet in the past, and one request is out at a time,
    so the robot waits for most chunks; the benchmark reports it as idle steps rather than hide it."""
    broker = bench.DelayedBroker(CountingClient(), 8, refill_fraction=bench.refill_fraction("naive", 8, 10),
                                 blend="none")
    executed(broker, 40)
    broker.close()
    assert broker.idle_steps > 3 * 8 and all(s.latency_steps <= 9 for s in broker.seams)


def test_sync_waits_for_every_chunk_and_counts_the_wait(bench):
    broker = bench.DelayedBroker(CountingClient(), 4, refill_fraction=bench.refill_fraction("sync", 4, 10), blend="none")
    actions = executed(broker, 30)
    broker.close()
    assert actions == [100.0 * (t // 10) + t % 10 for t in range(30)]  # every chunk whole, from its first action
    assert broker.idle_steps == 3 * 4


def test_rtc_sends_the_remaining_plan_and_the_measured_delay(bench):
    client = CountingClient()
    broker = bench.DelayedBroker(client, 2, refill_fraction=bench.refill_fraction("rtc", 2, 10), blend="rtc")
    executed(broker, 30)
    broker.close()
    later = [r for r in client.requests[1:] if "rtc.prefix_actions" in r]
    assert later and all(len(r["rtc.prefix_actions"]) == 6 for r in later)  # asked with 5 left + the request's step
    assert [r["rtc.delay"] for r in later] == [1] + [3] * (len(later) - 1)  # 1 before any seam, then the measured


def test_mean_squared_jerk_of_a_cubic_is_its_constant_third_difference(bench):
    t = np.arange(10, dtype=float)
    assert bench.mean_squared_jerk(np.stack([t**3, np.zeros(10)], axis=1)) == pytest.approx(36.0)
    assert np.isnan(bench.mean_squared_jerk(np.zeros((3, 2))))

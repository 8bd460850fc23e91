"""ActionChunkBroker: the next chunk is asked for early and in the background, chunks are aligned by the
steps executed while a request was in flight, blending shrinks the jump at chunk seams, and a server
restart mid-episode costs no step."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from motionvla_client import ActionChunkBroker, PolicyClient, blend_weights

from motionvla.deploy import PolicyServer, ServerThread
from tests.deploy.helpers import FakePolicy, fake_obs, free_port

CHUNK, DIMS = 10, 2


def reference(steps: np.ndarray) -> np.ndarray:
    """A smooth trajectory ``(len(steps), DIMS)``: what a perfect policy would do at each control step."""
    steps = np.asarray(steps, dtype=np.float64)[:, None]
    return np.sin(0.05 * steps + np.arange(DIMS)).astype(np.float32)


class ScriptedClient:
    """Chunks of :func:`reference` starting at the request's step, chunk k offset by ``offset * (-1)^k`` (two
    consecutive chunks disagree by ``2 offset``, as real ones do). A request after the first answers only once
    the test's clock (:meth:`advance`) is ``latency`` steps past the request, so latency in steps is exact."""

    def __init__(self, offset: float = 0.0, latency: int = 1, fail_request: int | None = None) -> None:
        self.offset, self.latency, self.fail_request = offset, latency, fail_request
        self.request_steps: list[int] = []
        self._now = 0
        self._clock = threading.Condition()

    def advance(self, now: int) -> None:
        with self._clock:
            self._now = now
            self._clock.notify_all()

    def infer(self, obs: dict) -> dict:
        step, index = int(obs["step"]), len(self.request_steps)
        self.request_steps.append(step)
        if index > 0:
            with self._clock:
                assert self._clock.wait_for(lambda: self._now - step >= self.latency, timeout=10), "clock stopped"
        if index == self.fail_request:
            raise ConnectionError("link down")
        return {"actions": reference(step + np.arange(CHUNK)) + self.offset * (-1) ** index}


def drive(broker: ActionChunkBroker, client: ScriptedClient, steps: int) -> tuple[np.ndarray, list[float]]:
    """Run ``steps`` control steps; each background request lands exactly ``client.latency`` steps after it
    was sent. Returns the executed actions ``(steps, DIMS)`` and each act() call's duration (s)."""
    actions, durations = [], []
    for t in range(steps):
        start = time.perf_counter()
        actions.append(broker.act({"step": np.int64(t)}))
        durations.append(time.perf_counter() - start)
        client.advance(t + 1)
        sent = broker.in_flight_step
        if sent is not None and t + 1 - sent >= client.latency:
            assert broker.wait(10)  # lands before the next act(): exact latency, however loaded the machine
    return np.stack(actions), durations


def test_next_chunk_is_requested_early_and_act_does_not_wait_for_it():
    client = ScriptedClient(latency=3)
    broker = ActionChunkBroker(client, refill_fraction=0.5)
    actions, durations = drive(broker, client, steps=40)
    # Chunk of 10, refill at half: after step 4 five actions are left, so step 4's observation is sent.
    assert client.request_steps[:4] == [0, 4, 8, 12]  # then every 4 steps: 3 in flight + 1
    assert max(durations[1:]) < 0.05  # steps in flight never wait for the server
    np.testing.assert_allclose(actions, reference(np.arange(40)), atol=1e-6)  # aligned: no step skipped or repeated
    assert [s.latency_steps for s in broker.seams[:3]] == [3, 3, 3]
    broker.close()


@pytest.mark.parametrize("latency", [1, 2, 4])
def test_blending_shrinks_the_jump_at_chunk_seams(latency):
    seam, worst = {}, {}
    for mode in ("none", "linear", "exp"):
        client = ScriptedClient(offset=0.25, latency=latency)  # consecutive chunks disagree by 0.5
        broker = ActionChunkBroker(client, refill_fraction=0.7, blend=mode)
        actions, _ = drive(broker, client, steps=60)
        assert len(broker.boundary_jumps) >= 5
        seam[mode] = max(broker.boundary_jumps)
        overlap = min(s.overlap for s in broker.seams[1:]) if mode != "none" else 0  # old actions left at each landing
        worst[mode] = float(np.abs(np.diff(actions, axis=0)).max())  # every step: blending must not move the jump
        broker.close()
    smooth = float(np.abs(np.diff(reference(np.arange(60)), axis=0)).max())  # the trajectory's own speed, ~0.05
    assert seam["none"] > 0.5 - smooth  # naive switching: the whole disagreement in one step
    assert overlap >= 1
    bound = 0.5 / (overlap + 1) + smooth + 1e-3  # the linear ramp spreads it over overlap + 1 steps
    assert worst["linear"] < bound and worst["linear"] < worst["none"] / 2
    assert worst["exp"] < worst["none"]


def test_blend_weights():
    np.testing.assert_allclose(blend_weights(3, "linear"), [0.25, 0.5, 0.75])
    exp = blend_weights(4, "exp")
    assert np.all(np.diff(exp) > 0) and exp[-1] == pytest.approx(0.8)
    np.testing.assert_allclose(blend_weights(2, "none"), [1, 1])
    with pytest.raises(ValueError, match="accepted: linear, exp, none"):
        ActionChunkBroker(ScriptedClient(), blend="cubic")


def test_when_the_plan_runs_out_act_waits_and_drops_the_actions_already_past():
    client = ScriptedClient(latency=3)
    broker = ActionChunkBroker(client, refill_fraction=0.2)  # ask with 2 actions left
    for t in range(10):
        broker.act({"step": np.int64(t)})
    assert broker.in_flight_step == 7 and broker.remaining == 0  # asked after step 7, two actions before the end
    threading.Timer(0.3, client.advance, args=(10,)).start()
    start = time.perf_counter()
    action = broker.act({"step": np.int64(10)})  # nothing left: waits for the reply sent at step 7
    assert time.perf_counter() - start > 0.2
    np.testing.assert_allclose(action, reference(np.array([10]))[0], atol=1e-6)  # new[3]: 3 steps were past
    assert broker.seams[-1].latency_steps == 3 and client.request_steps == [0, 7]
    broker.close()


def test_a_failed_background_request_is_retried_while_the_plan_lasts():
    client = ScriptedClient(latency=1, fail_request=1)
    broker = ActionChunkBroker(client, refill_fraction=0.5)
    actions, _ = drive(broker, client, steps=20)
    assert broker.failed_requests == 1 and client.request_steps[:3] == [0, 4, 5]  # asked again at the next step
    np.testing.assert_allclose(actions, reference(np.arange(20)), atol=1e-6)
    broker.close()


def test_broker_rides_through_a_server_restart():
    port = free_port()
    policy = FakePolicy(delay_s=0.01)
    servers = [ServerThread(PolicyServer(policy, port=port))]
    restart = threading.Timer(0.4, lambda: servers.append(ServerThread(PolicyServer(policy, port=port))))
    client = PolicyClient("127.0.0.1", port, reconnect_timeout_s=15.0, backoff_initial_s=0.05, backoff_max_s=0.3)
    broker = ActionChunkBroker(client, refill_fraction=0.6)
    done = []
    try:
        for t in range(60):
            if t == 15:
                servers[0].stop()  # the server goes away mid-episode ...
                restart.start()
            done.append(broker.act(fake_obs(float(t))))  # ... and comes back: every step still gets an action
            time.sleep(0.01)
        assert len(done) == 60 and client.connections == 2
        assert done[-1].shape == (2,) and done[-1][0] > 40  # recent chunks come from recent observations
    finally:
        broker.close()
        client.close()
        restart.join()
        for server in servers[1:]:
            server.stop()


class InpaintingClient(ScriptedClient):
    """A :class:`ScriptedClient` that honours real-time chunking as a perfect inpainter would: the reply repeats
    the sent prefix over its whole length, then continues with its own (offset) chunk."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prefixes: list[np.ndarray | None] = []
        self.delays: list[int | None] = []
        self.replies: list[np.ndarray] = []

    def infer(self, obs: dict) -> dict:
        reply = super().infer(obs)
        prefix, delay = obs.get("rtc.prefix_actions"), obs.get("rtc.delay")
        self.prefixes.append(prefix)
        self.delays.append(delay)
        if prefix is not None:
            reply["actions"][: len(prefix)] = prefix
        self.replies.append(reply["actions"].copy())
        return reply


@pytest.mark.parametrize("latency", [2, 3])
def test_rtc_sends_the_plan_from_the_request_step_and_the_measured_delay(latency):
    client = InpaintingClient(offset=0.25, latency=latency)
    broker = ActionChunkBroker(client, refill_fraction=0.7, blend="rtc")
    actions, _ = drive(broker, client, steps=60)
    assert client.prefixes[0] is None  # nothing planned yet at the first request
    for k in range(1, len(client.prefixes)):
        step, prefix = client.request_steps[k], client.prefixes[k]
        if step + latency + 1 > len(actions):
            continue  # sent at the end of the drive: its steps were never executed
        # The prefix is what the plan held from the request's step on: its first actions are the ones executed
        # at that step and while the request was in flight.
        np.testing.assert_allclose(prefix[: latency + 1], actions[step: step + latency + 1], atol=1e-6)
    # Delay: 1 (the request's own step) until a seam has been measured (request 1 is out before the first seam), then
    # the latency of the last seam, from request 2 on.
    assert client.delays[1] == 1 and set(client.delays[2:]) == {latency}
    # No cross-fade: the server's chunk is executed as it came, from the first action not yet in the past
    # (seam j merges request j + 1; the first chunk makes no seam).
    assert all(s.overlap == 0 for s in broker.seams)
    for j, seam in enumerate(broker.seams):
        np.testing.assert_allclose(actions[seam.step], client.replies[j + 1][seam.latency_steps], atol=1e-6)
    broker.close()

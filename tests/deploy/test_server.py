"""The policy server over loopback: round trips with our client and with the real openpi-client package,
concurrent clients batched into one forward, a free event loop while inference runs, the request flags."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from motionvla_client import PolicyClient, PolicyServerError
from openpi_client import websocket_client_policy

from motionvla.deploy import fake_observation
from tests.deploy.helpers import FakePolicy, fake_obs, healthz, running


def test_round_trip_with_a_tiny_checkpoint(tiny_policy):
    obs = fake_observation(tiny_policy.metadata, task="lift the red cube")
    tiny_policy.reset(seed=0)
    direct = tiny_policy.infer(obs)["actions"]
    with running(tiny_policy) as server, PolicyClient("127.0.0.1", server.port) as client:
        meta = client.get_server_metadata()
        assert meta["policy_type"] == "motionvla" and meta["protocol"] == "openpi-websocket"
        assert meta["observation"]["observation.images.front"] == {"shape": [32, 32, 3], "dtype": "uint8"}
        assert meta["action_dim"] == 4 and meta["n_action_steps"] == 10
        assert meta["capabilities"]["num_samples"] and meta["capabilities"]["motion_preview"]
        reply = client.infer(obs)
        assert reply["actions"].shape == (10, 4) and reply["actions"].dtype == np.float32
        np.testing.assert_allclose(reply["actions"], direct, atol=1e-5)  # noise scale 0: deterministic
        assert reply["server_timing"]["infer_ms"] > 0 and reply["server_timing"]["batch_size"] == 1
        assert "infer_ms" in reply["policy_timing"]
        assert "prev_total_ms" in client.infer(obs)["server_timing"]  # openpi's field, from the 2nd request on
        assert healthz(server.port) == 200


def test_real_openpi_client_drives_the_server(tiny_policy):
    obs = fake_observation(tiny_policy.metadata)
    with running(tiny_policy) as server:
        policy = websocket_client_policy.WebsocketClientPolicy(host="127.0.0.1", port=server.port)
        assert policy.get_server_metadata()["action_dim"] == 4
        reply = policy.infer(obs)
        assert reply["actions"].shape == (10, 4) and "infer_ms" in reply["server_timing"]
        with pytest.raises(RuntimeError, match="Error in inference server:\nmotionvla server: bad request: missing"):
            policy.infer({"prompt": "no images"})
        assert policy.infer(obs)["actions"].shape == (10, 4)  # the connection survived the error reply
        policy._ws.close()  # openpi-client has no close(); its connection is public enough


def test_openpi_style_keys_are_renamed_and_flattened(tiny_policy):
    rename = {"observation/image": "observation.images.front", "observation/state": "observation.state", "prompt": "task"}
    obs = fake_observation(tiny_policy.metadata)
    openpi_obs = {"observation": {"image": obs["observation.images.front"].transpose(2, 0, 1),  # CHW, as some send it
                                  "state": obs["observation.state"].astype(np.float64)}, "prompt": obs["task"]}
    with running(tiny_policy, rename=rename) as server, PolicyClient("127.0.0.1", server.port) as client:
        assert client.get_server_metadata()["rename_map"] == rename
        np.testing.assert_allclose(client.infer(openpi_obs)["actions"], client.infer(obs)["actions"], atol=1e-6)


def test_concurrent_clients_are_batched_into_one_forward():
    policy = FakePolicy(delay_s=0.2)
    with running(policy, batch_window_ms=50, max_batch=8) as server:
        clients = [PolicyClient("127.0.0.1", server.port) for _ in range(6)]
        for c in clients:
            c.get_server_metadata()
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda i: clients[i].infer(fake_obs(float(i))), range(6)))
        for i, reply in enumerate(replies):  # each client gets its own row back
            np.testing.assert_allclose(reply["actions"], np.full((5, 2), float(i)))
        assert max(policy.batch_sizes) > 1, policy.batch_sizes
        assert max(r["server_timing"]["batch_size"] for r in replies) > 1
        for c in clients:
            c.close()


def test_inference_does_not_block_the_event_loop():
    policy = FakePolicy(delay_s=1.5)
    with running(policy, max_batch=1) as server:
        slow = PolicyClient("127.0.0.1", server.port)
        worker = threading.Thread(target=slow.infer, args=(fake_obs(),))
        worker.start()
        time.sleep(0.2)  # the slow request is now inside the policy
        start = time.perf_counter()
        assert healthz(server.port) == 200
        with PolicyClient("127.0.0.1", server.port) as other:
            assert other.get_server_metadata()["policy_type"] == "fake"  # a new client's handshake is answered
        assert time.perf_counter() - start < 0.75, "the event loop waited for the forward pass"
        worker.join()
        slow.close()


def test_uncertainty_flag_returns_the_spread_of_s_samples(tiny_policy):
    obs = fake_observation(tiny_policy.metadata)
    with running(tiny_policy) as server, PolicyClient("127.0.0.1", server.port) as client:
        plain = client.infer(obs)["actions"]
        reply = client.infer(obs, num_samples=8)
        assert reply["action_std"].shape == (10, 4) and np.all(reply["action_std"] >= 0)
        assert isinstance(reply["action_spread"], float) and reply["action_spread"] > 0
        np.testing.assert_allclose(reply["action_spread"], reply["action_std"].mean(), rtol=1e-5)
        np.testing.assert_allclose(reply["actions"], plain, atol=1e-5)  # the executed chunk is unchanged
        with pytest.raises(PolicyServerError, match="num_samples=1: must be 0 or in 2..32"):
            client.infer(obs, num_samples=1)


def test_spread_comes_from_one_backbone_pass(tiny_policy, monkeypatch):
    calls = []
    original = tiny_policy.policy.encode
    monkeypatch.setattr(tiny_policy.policy, "encode", lambda batch: calls.append(1) or original(batch))
    result = tiny_policy.infer_extras({k: ([v] if k == "task" else v[None]) for k, v in
                                       fake_observation(tiny_policy.metadata).items()}, num_samples=16)
    assert len(calls) == 1 and result["action_std"].shape == (1, 10, 4)


def test_motion_preview_shapes_and_off_by_default(tiny_policy):
    obs = fake_observation(tiny_policy.metadata)
    with running(tiny_policy) as server, PolicyClient("127.0.0.1", server.port) as client:
        assert "motion_images" not in client.infer(obs)
        images = client.infer(obs, motion_preview=True)["motion_images"]
        assert images.shape == (4, 16, 16, 3) and images.dtype == np.uint8  # K frames at the motion resolution


def test_flags_are_refused_for_policies_without_them():
    with running(FakePolicy()) as server, PolicyClient("127.0.0.1", server.port) as client:
        assert client.get_server_metadata()["capabilities"]["num_samples"] is False
        with pytest.raises(PolicyServerError, match="num_samples is not available"):
            client.infer(fake_obs(), num_samples=4)
        with pytest.raises(PolicyServerError, match="no motion head"):
            client.infer(fake_obs(), motion_preview=True)
        assert client.infer(fake_obs(1.0))["actions"].shape == (5, 2)


class _AllergicPolicy(FakePolicy):
    """Fails any forward whose batch holds an observation with state 13."""

    def infer(self, obs):
        self.seen = [*getattr(self, "seen", []), len(obs["observation.state"])]
        if np.any(np.asarray(obs["observation.state"]) == 13):
            raise ValueError("unlucky observation")
        return super().infer(obs)


def test_one_failing_request_does_not_fail_the_others_in_its_batch():
    policy = _AllergicPolicy(delay_s=0.05)
    with running(policy, batch_window_ms=200, max_batch=8) as server:
        clients = [PolicyClient("127.0.0.1", server.port) for _ in range(4)]
        for c in clients:
            c.get_server_metadata()

        def ask(i: int):
            try:
                return clients[i].infer(fake_obs(13.0 if i == 2 else float(i)))["actions"][0, 0]
            except PolicyServerError as exc:
                return str(exc)

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(ask, range(4)))
        assert answers[2] == "motionvla server: inference failed: ValueError: unlucky observation"
        assert [answers[i] for i in (0, 1, 3)] == [0.0, 1.0, 3.0]
        assert max(policy.seen) > 1 and policy.seen.count(1) >= 4  # stacked, then retried one by one
        for c in clients:
            c.close()


def test_real_time_chunking_over_the_wire(tiny_policy):
    """``rtc.prefix_actions`` + ``rtc.delay`` in the observation: the first d actions of the reply are the
    prefix's; a bad request is a one-line error and the connection stays usable."""
    obs = fake_observation(tiny_policy.metadata)
    prefix = np.linspace(-1, 1, 6 * 4, dtype=np.float32).reshape(6, 4)
    with running(tiny_policy) as server, PolicyClient("127.0.0.1", server.port) as client:
        assert client.get_server_metadata()["capabilities"]["rtc"] is True
        reply = client.infer({**obs, "rtc.prefix_actions": prefix, "rtc.delay": 3})
        np.testing.assert_allclose(reply["actions"][:3], prefix[:3], atol=1e-4)
        with pytest.raises(PolicyServerError, match=r"rtc.prefix_actions must be a real \(P, 4\) array"):
            client.infer({**obs, "rtc.prefix_actions": np.zeros((3, 7), np.float32)})
        with pytest.raises(PolicyServerError, match=r"rtc.delay must be an int in 0..6"):
            client.infer({**obs, "rtc.prefix_actions": prefix, "rtc.delay": 7})
        assert client.infer(obs)["actions"].shape == (10, 4)  # the connection is kept
    with running(FakePolicy()) as server, PolicyClient("127.0.0.1", server.port) as client:
        assert client.get_server_metadata()["capabilities"]["rtc"] is False
        with pytest.raises(PolicyServerError, match="rtc.prefix_actions is not available"):
            client.infer({**fake_obs(), "rtc.prefix_actions": np.zeros((2, 2), np.float32)})


def test_the_broker_drives_rtc_against_the_real_server(tiny_policy):
    from motionvla_client import ActionChunkBroker

    obs = fake_observation(tiny_policy.metadata)
    with running(tiny_policy) as server, PolicyClient("127.0.0.1", server.port) as client:
        broker = ActionChunkBroker(client, refill_fraction=0.6, blend="rtc")
        actions = [broker.act(obs) for _ in range(25)]
        broker.wait(10)
        broker.act(obs)
        broker.close()
    assert np.all(np.isfinite(actions)) and len(broker.seams) >= 2
    assert broker.failed_requests == 0 and broker.stale_chunks == 0  # every prefix and delay was accepted

"""The robot-side package: openpi-compatible codec, reconnect with bounded back-off, timeouts, no torch."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from motionvla_client import PolicyClient, PolicyTimeoutError, ServerUnavailableError, WireFormatError, msgpack_numpy, server_uri
from openpi_client import msgpack_numpy as openpi_msgpack

from motionvla.deploy import PolicyServer, ServerThread
from tests.deploy.helpers import FakePolicy, fake_obs, free_port, running

SAMPLE = {
    "image": np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3),
    "state": np.linspace(-1, 1, 7, dtype=np.float64),
    "mask": np.array([True, False]),
    "ints": np.arange(-3, 3, dtype=np.int16)[::2],  # not contiguous
    "scalar": np.int32(7),
    "nested": {"list": [1, 2.5, "x", b"raw"], "empty": np.zeros((0, 4), np.float32)},
}


def _assert_same(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)
    else:
        assert a == b


def test_codec_matches_openpi_client_byte_for_byte():
    ours = msgpack_numpy.packb(SAMPLE)
    assert ours == openpi_msgpack.packb(SAMPLE)
    _assert_same(openpi_msgpack.unpackb(ours), SAMPLE)
    _assert_same(msgpack_numpy.unpackb(openpi_msgpack.packb(SAMPLE)), SAMPLE)


def test_codec_accepts_str_keys_and_rejects_unsafe_arrays():
    import msgpack

    frame = msgpack.packb({"__ndarray__": True, "data": b"\x00" * 8, "dtype": "<f4", "shape": [2]})
    assert msgpack_numpy.unpackb(frame).tolist() == [0.0, 0.0]
    with pytest.raises(TypeError, match="cannot send numpy dtype object"):
        msgpack_numpy.packb({"x": np.array([object()])})
    with pytest.raises(TypeError, match="cannot send set"):
        msgpack_numpy.packb({"x": {1, 2}})
    bad = msgpack.packb({b"__ndarray__": True, b"data": b"\x00" * 8, b"dtype": "|O", b"shape": [1]})
    with pytest.raises(WireFormatError, match="not accepted"):
        msgpack_numpy.unpackb(bad)


def test_client_package_imports_no_torch_and_nothing_of_motionvla():
    code = ("import sys, motionvla_client, motionvla_client.broker, motionvla_client.client; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'motionvla', 'lerobot')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_uri_forms():
    assert server_uri("127.0.0.1", 8000) == "ws://127.0.0.1:8000"
    assert server_uri("::1", 9) == "ws://[::1]:9"
    assert server_uri("ws://robot-box:8000", None) == "ws://robot-box:8000"


def test_reconnects_with_back_off_when_the_server_restarts():
    port = free_port()
    policy = FakePolicy()
    first = ServerThread(PolicyServer(policy, port=port))
    client = PolicyClient("127.0.0.1", port, reconnect_timeout_s=15.0, backoff_initial_s=0.05, backoff_max_s=0.4)
    assert client.infer(fake_obs(1.0))["actions"][0, 0] == 1.0
    first.stop()
    restarted: list[ServerThread] = []
    timer = threading.Timer(1.0, lambda: restarted.append(ServerThread(PolicyServer(policy, port=port))))
    timer.start()
    try:
        start = time.perf_counter()
        reply = client.infer(fake_obs(2.0))  # the connection is gone: back-off until the new server listens
        waited = time.perf_counter() - start
        assert reply["actions"][0, 0] == 2.0 and client.connections == 2
        assert 0.8 < waited < 10.0, waited
    finally:
        timer.join()
        client.close()
        for server in restarted:
            server.stop()


def test_a_lost_connection_is_noticed_between_requests_and_forgotten_on_reconnect():
    port = free_port()
    policy = FakePolicy()
    server = ServerThread(PolicyServer(policy, port=port))
    client = PolicyClient("127.0.0.1", port, reconnect_timeout_s=5.0)
    heard: list[tuple[float, str]] = []
    client.add_connection_listener(lambda reason: heard.append((time.perf_counter(), reason)))
    try:
        client.infer(fake_obs(1.0))
        assert client.connection_problem() is None
        stopped_at = time.perf_counter()
        server.stop()  # no request is in flight: only the watcher can notice
        deadline = time.perf_counter() + 2.0
        while not heard and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert heard and heard[0][0] - stopped_at < 0.2, heard
        assert client.connection_problem() == heard[0][1] and "closed" in heard[0][1]
        server = ServerThread(PolicyServer(policy, port=port))
        assert client.infer(fake_obs(2.0))["actions"][0, 0] == 2.0  # the next request reconnects ...
        assert client.connection_problem() is None and len(heard) == 1  # ... and the loss is forgotten
    finally:
        client.close()
        server.stop()


def test_unreachable_server_fails_within_the_reconnect_budget():
    client = PolicyClient("127.0.0.1", free_port(), reconnect_timeout_s=0.6, backoff_initial_s=0.05, backoff_max_s=0.2)
    start = time.perf_counter()
    with pytest.raises(ServerUnavailableError, match=r"no policy server at ws://127.0.0.1:\d+ after [3-9]\d* attempt"):
        client.infer(fake_obs())
    assert time.perf_counter() - start < 2.0


def test_a_late_reply_times_out_and_is_never_taken_for_the_next_one():
    policy = FakePolicy(delay_s=1.0)
    with running(policy, max_batch=1) as server:
        client = PolicyClient("127.0.0.1", server.port, timeout_s=0.2)
        with pytest.raises(PolicyTimeoutError, match="no reply from .* within 0.2 s"):
            client.infer(fake_obs(1.0))
        policy.delay_s = 0.0
        client.timeout_s = 5.0
        assert client.infer(fake_obs(2.0))["actions"][0, 0] == 2.0  # on a fresh connection, its own reply
        assert client.connections == 2
        client.close()

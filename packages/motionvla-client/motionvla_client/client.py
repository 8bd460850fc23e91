"""``PolicyClient``: a blocking websocket client for a policy server speaking openpi's protocol.

Protocol (openpi's, which ``motionvla serve`` implements): on connect the server sends one msgpack map,
its metadata; then each binary frame the client sends (an observation map) is answered by one binary
frame (``{"actions": (n_action_steps, A) float32, "policy_timing": {...}, "server_timing": {...}}``) or,
when the request was refused, by one *text* frame holding a message for the operator. A text reply
leaves the connection usable; this client raises :class:`PolicyServerError` with it.

Failure handling, so that a robot loop can rely on bounded waits:
- the connection is opened lazily and re-opened with exponential back-off (``backoff_initial_s`` doubling
  up to ``backoff_max_s``, with jitter) for at most ``reconnect_timeout_s``, then
  :class:`ServerUnavailableError`; the next call tries again;
- a request whose connection dropped (server restart) is sent once more on the new connection (inference
  has no side effects on the server);
- a reply slower than ``timeout_s`` raises :class:`PolicyTimeoutError` and drops the connection, because a
  late reply would otherwise be read as the answer to the next request;
- a refused token raises :class:`AuthenticationError` at once (retrying cannot fix it).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from contextlib import ExitStack
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from motionvla_client import msgpack_numpy

logger = logging.getLogger(__name__)

#: Environment variable holding the token when none is passed (the server reads the same name).
TOKEN_ENV = "MOTIONVLA_SERVE_TOKEN"
#: Close code a websocket peer sends when a message exceeds its size limit (RFC 6455).
MESSAGE_TOO_BIG = 1009


class PolicyServerError(RuntimeError):
    """The server refused a request (bad observation, failed inference); the message says why."""


class ServerUnavailableError(ConnectionError):
    """No connection to the policy server could be (re)opened within ``reconnect_timeout_s``."""


class PolicyTimeoutError(TimeoutError):
    """No reply within ``timeout_s``; the connection was dropped and is re-opened on the next call."""


class AuthenticationError(PermissionError):
    """The server refused the connection's token (HTTP 401/403)."""


class PayloadTooLargeError(PolicyServerError):
    """The server closed the connection because a frame exceeded its hard size limit."""


def server_uri(host: str, port: int | None) -> str:
    """``ws://host:port`` (``host`` may already be a ``ws://`` / ``wss://`` URI; IPv6 hosts get brackets)."""
    if host.startswith(("ws://", "wss://")):
        return host if port is None else f"{host.rstrip('/')}:{port}"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"ws://{host}" + ("" if port is None else f":{port}")


class PolicyClient:
    """Blocking client for ``motionvla serve`` (or any openpi policy server). Thread-safe: calls are serialized.

    Args:
        host, port: the server (``host`` may be a full ``ws://`` URI, then ``port`` may be None).
        token: sent as ``Authorization: Api-Key <token>`` (openpi-client's header); default: ``$MOTIONVLA_SERVE_TOKEN``.
        timeout_s: longest wait for one reply (seconds).
        connect_timeout_s: longest wait for one connection attempt, handshake and metadata included.
        reconnect_timeout_s: longest time spent (re)connecting, all attempts together, before giving up.
        backoff_initial_s, backoff_max_s: first and largest pause between connection attempts.
        max_reply_mb: largest reply accepted (None: no limit; motion previews are the big ones).
        ping_interval_s, ping_timeout_s: websocket keep-alive: a ping every ``ping_interval_s`` while connected;
            no pong within ``ping_timeout_s`` closes the connection, so a silent server is noticed between
            requests too (:meth:`connection_problem`). None: no keep-alive.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = 8000,
        token: str | None = None,
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        reconnect_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
        max_reply_mb: float | None = None,
        ping_interval_s: float | None = 1.0,
        ping_timeout_s: float | None = 1.0,
    ) -> None:
        if timeout_s <= 0 or connect_timeout_s <= 0 or reconnect_timeout_s < 0:
            raise ValueError("timeout_s and connect_timeout_s must be > 0, reconnect_timeout_s >= 0")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError(f"need 0 < backoff_initial_s <= backoff_max_s, got {backoff_initial_s}, {backoff_max_s}")
        self.uri = server_uri(host, port)
        self._token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.timeout_s, self.connect_timeout_s = timeout_s, connect_timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.backoff_initial_s, self.backoff_max_s = backoff_initial_s, backoff_max_s
        self._max_size = None if max_reply_mb is None else int(max_reply_mb * 2**20)
        self.ping_interval_s, self.ping_timeout_s = ping_interval_s, ping_timeout_s
        self._conn: ClientConnection | None = None
        self._close_stack = ExitStack()
        self._metadata: dict[str, Any] = {}
        self._lock = threading.RLock()
        #: Connections opened so far (1 after the first call; more after reconnects).
        self.connections = 0
        # Why the last connection ended without our asking (cleared by a new connection or close()).
        self._lost_reason: str | None = None
        self._lost_conn: ClientConnection | None = None
        self._loss_lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []

    # ------------------------------------------------------------------ public API
    def infer(self, obs: dict[str, Any], *, num_samples: int | None = None, motion_preview: bool = False) -> dict[str, Any]:
        """Send one observation, return the server's reply.

        ``obs``: the policy's keys (``get_server_metadata()["observation"]``), e.g. ``observation.images.front``
        uint8 ``(H, W, 3)``, ``observation.state`` float32 ``(S,)``, ``task`` str. Reply: ``actions`` float32
        ``(n_action_steps, A)`` in the robot's units, ``policy_timing`` and ``server_timing`` (ms).
        ``num_samples=S`` (motionvla checkpoints) also returns ``action_std`` ``(n_action_steps, A)`` and
        ``action_spread`` (float, mean of ``action_std``) over S extra action samples; ``motion_preview=True``
        returns ``motion_images`` uint8 ``(K, r, r, 3)``, the motion head's forecast.
        """
        if not isinstance(obs, dict):
            raise TypeError(f"obs must be a dict of observation keys, got {type(obs).__name__}")
        payload = dict(obs)
        if num_samples is not None:
            payload["num_samples"] = int(num_samples)
        if motion_preview:
            payload["motion_preview"] = True
        frame = msgpack_numpy.packb(payload)
        with self._lock:
            for attempt in (0, 1):
                conn = self._ensure_connected()
                try:
                    conn.send(frame)
                    reply = conn.recv(timeout=self.timeout_s)
                except TimeoutError as exc:
                    self._drop()
                    raise PolicyTimeoutError(f"no reply from {self.uri} within {self.timeout_s:g} s") from exc
                except (ConnectionClosed, OSError) as exc:
                    self._drop(lost=True)
                    received = getattr(exc, "rcvd", None)
                    if received is not None and received.code == MESSAGE_TOO_BIG:
                        raise PayloadTooLargeError(f"server {self.uri} refused the frame: {received.reason}") from exc
                    if attempt == 0:
                        logger.warning("connection to %s lost (%s); reconnecting", self.uri, exc)
                        continue
                    raise ServerUnavailableError(f"connection to {self.uri} lost twice in one request: {exc}") from exc
                if isinstance(reply, str):
                    raise PolicyServerError(reply)
                out = msgpack_numpy.unpackb(reply)
                if not isinstance(out, dict):
                    raise PolicyServerError(f"server reply is a {type(out).__name__}, expected a map")
                return out
        raise AssertionError("unreachable")

    def get_server_metadata(self) -> dict[str, Any]:
        """The metadata the server sent on connecting (connects first if needed): policy type, cameras,
        state/action dims, chunk size, n_action_steps, fps, the observation keys it expects, capabilities."""
        with self._lock:
            self._ensure_connected()
            return dict(self._metadata)

    def connection_problem(self) -> str | None:
        """Why the connection was lost, from the moment it happens (the server closed it or died, a keep-alive
        pong missed) until a new one is open or :meth:`close` is called; None while all is well. It does not wait
        for the next request to find out; the next request reconnects as usual."""
        conn = self._conn
        if conn is not None and conn.protocol.state is not State.OPEN:
            return self._describe_loss(conn)
        return self._lost_reason

    def add_connection_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(reason)`` (from a watcher thread) as soon as an open connection is lost."""
        self._listeners.append(listener)

    def _describe_loss(self, conn: ClientConnection) -> str:
        code = conn.protocol.close_code
        how = f"close code {code}" if code not in (None, 1006) else "no close frame: the server died or the network dropped"
        return f"connection to {self.uri} closed ({how})"

    def _watch(self, conn: ClientConnection) -> None:
        # Polls the websocket's state (a field read every 10 ms): websockets' sync API offers no public way to
        # wait for a connection's end from a thread that is not reading from it.
        while conn is self._conn and conn.protocol.state is State.OPEN:
            time.sleep(0.01)
        if conn is self._conn:  # lost, not dropped by a request that failed (that one reports it itself)
            self._mark_lost(conn, self._describe_loss(conn))

    def _mark_lost(self, conn: ClientConnection, reason: str) -> None:
        """Remember why ``conn`` was lost and tell the listeners, once per connection."""
        with self._loss_lock:
            if self._lost_conn is conn:
                return
            self._lost_conn, self._lost_reason = conn, reason
        for listener in list(self._listeners):
            try:
                listener(reason)
            except Exception:  # noqa: BLE001 -- a listener's bug must not stop the others
                logger.exception("connection listener failed")

    def reset(self) -> None:
        """Nothing to reset on the server (openpi's client does the same); kept for interface parity."""

    def close(self) -> None:
        """Close the connection (a later call opens a new one); forgets a lost connection's reason."""
        with self._lock:
            self._drop()
            self._lost_reason = None

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ connection handling
    def _drop(self, lost: bool = False) -> None:
        """Close the connection; ``lost``: because it failed (remembered and told to the listeners)."""
        if self._conn is not None:
            if lost:
                self._mark_lost(self._conn, self._describe_loss(self._conn))
            try:
                self._close_stack.close()
            except Exception:  # noqa: BLE001 -- closing a broken socket may fail in many ways; it is gone either way
                pass
            self._conn = None

    def _connect_once(self) -> ClientConnection:
        headers = {"Authorization": f"Api-Key {self._token}"} if self._token else None
        with ExitStack() as stack:
            # Entered as a context manager (websockets >= 17.1 deprecates bare connect()); closed in _drop().
            conn = stack.enter_context(connect(self.uri, additional_headers=headers, open_timeout=self.connect_timeout_s,
                                               max_size=self._max_size, compression=None, close_timeout=1.0,
                                               ping_interval=self.ping_interval_s, ping_timeout=self.ping_timeout_s))
            metadata = msgpack_numpy.unpackb(conn.recv(timeout=self.connect_timeout_s))
            if not isinstance(metadata, dict):
                raise ConnectionError(f"{self.uri} sent a {type(metadata).__name__} as its metadata frame, expected a map")
            self._metadata = metadata
            self._close_stack = stack.pop_all()  # keep it open past this block
        return conn

    def _ensure_connected(self) -> ClientConnection:
        if self._conn is not None:
            return self._conn
        start = time.monotonic()
        delay, attempts = self.backoff_initial_s, 0
        while True:
            attempts += 1
            try:
                self._conn = self._connect_once()
                self.connections += 1
                self._lost_reason = None
                threading.Thread(target=self._watch, args=(self._conn,), name="policy-connection-watch",
                                 daemon=True).start()
                return self._conn
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    raise AuthenticationError(f"{self.uri} refused the token (HTTP {status}): "
                                              f"{exc.response.body.decode(errors='replace').strip()}") from exc
                error: Exception = exc
            except InvalidURI as exc:
                raise ValueError(f"not a websocket address: {self.uri}") from exc
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, msgpack_numpy.WireFormatError) as exc:
                error = exc
            elapsed = time.monotonic() - start
            if elapsed + delay > self.reconnect_timeout_s:
                raise ServerUnavailableError(
                    f"no policy server at {self.uri} after {attempts} attempt(s) in {elapsed:.1f} s: "
                    f"{type(error).__name__}: {error}") from error
            logger.info("policy server %s not reachable (%s); retrying in %.2f s", self.uri, error, delay)
            time.sleep(delay * random.uniform(0.8, 1.0))  # jitter: robots restarted together do not retry in lockstep
            delay = min(2 * delay, self.backoff_max_s)

"""The policy server: openpi's websocket protocol in front of any inference-interface policy.

Wire protocol (openpi's, so robots running the PyPI ``openpi-client`` work unchanged):

1. the client opens ``ws://host:port`` (with ``Authorization: Api-Key <token>`` when the server has one);
2. the server sends one binary msgpack frame: the metadata map (:meth:`PolicyServer.metadata`);
3. each binary frame the client sends is one observation (:mod:`motionvla.deploy.requests`); the server
   answers with one binary frame ``{"actions": (n_action_steps, A) float32, "policy_timing": {...},
   "server_timing": {"infer_ms", "queue_ms", "batch_size", "prev_total_ms"}}`` (+ extras when flagged);
4. ``GET /healthz`` over plain HTTP on the same port answers ``200 OK`` (no token needed: it says nothing).

Errors. openpi's server sends a traceback as a text frame and closes with 1011, so one bad frame costs the
robot its connection. Here a refused or failed request gets **one text frame with a one-line message** and
the connection stays open: openpi-client raises ``RuntimeError`` with that text and its next ``infer``
works; our client raises ``PolicyServerError``. A frame above ``max_payload_bytes`` gets such a message too;
only a frame above the transport's hard cap (4 x the limit, at least +1 MiB: the memory a connection may
hold) makes websockets close with 1009 and the reason. No input can stop the server: every handler
failure is caught and logged, and inference runs in a worker thread (:mod:`motionvla.deploy.batching`).
"""

from __future__ import annotations

import asyncio
import http
import logging
import threading
import time
from typing import Any

from motionvla_client import msgpack_numpy
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response

from motionvla.deploy.batching import InferenceBatcher
from motionvla.deploy.extras import capabilities
from motionvla.deploy.requests import RequestError, RequestParser
from motionvla.deploy.security import resolve_token, token_matches
from motionvla.inference import Policy

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
PROTOCOL = "openpi-websocket"


class PolicyServer:
    """Serve ``policy`` over websocket (see the module docstring).

    Args:
        policy: any inference-interface policy; a ``ServingPolicy`` also answers ``num_samples`` / ``motion_preview``.
        host, port: where to listen (port 0: a free port, read it from :attr:`port` once started).
        token: required from clients; mandatory when ``host`` is not loopback (else ``$MOTIONVLA_SERVE_TOKEN``).
        max_payload_mb: the largest request frame served (MiB).
        batch_window_ms: how long a request waits for others to share its forward pass.
        max_batch: the most requests in one forward pass (1: no batching).
        rename: client observation key → policy key.
        max_samples: the largest ``num_samples`` a request may ask for.
    """

    def __init__(self, policy: Policy, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
                 max_payload_mb: float = 10.0, batch_window_ms: float = 0.0, max_batch: int = 16,
                 rename: dict[str, str] | None = None, max_samples: int = 32) -> None:
        if max_payload_mb <= 0:
            raise ValueError(f"max_payload_mb must be > 0, got {max_payload_mb}")
        self.policy, self.host, self._requested_port = policy, host, port
        self.token = resolve_token(host, token)
        self.max_payload_bytes = int(max_payload_mb * 2**20)
        self.hard_cap_bytes = max(4 * self.max_payload_bytes, self.max_payload_bytes + 2**20)
        self.capabilities = capabilities(policy)
        self.parser = RequestParser(policy.metadata, rename=rename, max_payload_bytes=self.max_payload_bytes,
                                    max_samples=max_samples if self.capabilities["num_samples"] else 0,
                                    motion_preview=self.capabilities["motion_preview"], rtc=self.capabilities["rtc"])
        history = getattr(getattr(getattr(policy, "policy", None), "config", None), "n_obs_steps", 1) or 1
        if history > 1 and max_batch > 1:
            # Such a policy (e.g. Diffusion Policy) keeps one observation history for the whole server, so
            # requests of different robots must never share a forward; one robot per server is what works.
            logger.warning("the policy stacks %d past observations: batching is off; serve one robot per server", history)
            max_batch = 1
        self.batch_window_ms, self.max_batch = batch_window_ms, max_batch
        self.batcher: InferenceBatcher | None = None
        self.port: int | None = None
        self._stop: asyncio.Event | None = None
        #: Counters for logs and tests.
        self.connections = 0
        self.errors = 0

    def metadata(self) -> dict[str, Any]:
        """The first frame: the policy's metadata + what a client needs to build requests."""
        meta = self.policy.metadata.to_dict()
        meta.update({
            "server": "motionvla",
            "protocol": PROTOCOL,
            "observation": self.parser.spec(),
            "rename_map": dict(self.parser.rename),
            "capabilities": {**self.capabilities, "max_samples": self.parser.max_samples, "max_batch": self.max_batch},
            "max_payload_bytes": self.max_payload_bytes,
            "token_required": self.token is not None,
        })
        return meta

    # ------------------------------------------------------------------ lifecycle
    async def serve(self, started: threading.Event | None = None) -> None:
        """Listen until :meth:`stop` (or cancellation); sets ``started`` once :attr:`port` is known."""
        self._stop = asyncio.Event()
        self.batcher = InferenceBatcher(self.policy, max_batch=self.max_batch, window_s=self.batch_window_ms / 1000.0)
        self.batcher.start()
        self._metadata_frame = msgpack_numpy.packb(self.metadata())
        try:
            # max_queue: a client waits for each reply, so few frames are ever buffered; this bounds memory.
            async with serve(self._handler, self.host, self._requested_port, process_request=self._process_request,
                             max_size=self.hard_cap_bytes, max_queue=4, compression=None) as server:
                self.port = int(next(iter(server.sockets)).getsockname()[1])
                logger.info("serving %s on ws://%s:%d (token %s)", self.policy.metadata.source or self.policy.metadata.policy_type,
                            self.host, self.port, "required" if self.token else "not required")
                if started is not None:
                    started.set()
                await self._stop.wait()
        finally:
            await self.batcher.close()

    def stop(self) -> None:
        """Stop serving (call from the server's own loop)."""
        if self._stop is not None:
            self._stop.set()

    # ------------------------------------------------------------------ websocket plumbing
    def _process_request(self, connection: ServerConnection, request: HttpRequest) -> Response | None:
        if request.path == HEALTH_PATH:
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if self.token is not None and not token_matches(request.headers.get("Authorization"), self.token):
            logger.warning("refused a connection from %s: missing or wrong token", connection.remote_address)
            return connection.respond(http.HTTPStatus.UNAUTHORIZED,
                                      "missing or wrong token: send the header 'Authorization: Api-Key <token>'\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        peer = ws.remote_address
        logger.info("connection from %s opened", peer)
        try:
            await ws.send(self._metadata_frame)
            prev_total_ms: float | None = None
            while True:
                frame = await ws.recv()
                start = time.perf_counter()
                await ws.send(await self._answer(frame, prev_total_ms))
                prev_total_ms = round(1000.0 * (time.perf_counter() - start), 3)
        except ConnectionClosed as exc:
            logger.info("connection from %s closed (%s)", peer, exc)
        except Exception:  # noqa: BLE001 -- a handler bug must cost one connection, never the server
            logger.exception("connection from %s failed", peer)

    async def _answer(self, frame: bytes | str, prev_total_ms: float | None) -> bytes | str:
        """The reply frame for one request frame: binary msgpack, or a text frame with the error message."""
        assert self.batcher is not None
        try:
            request = self.parser.parse(frame)
            reply = await self.batcher.submit(request)
            if prev_total_ms is not None:  # openpi's convention: the previous request's full time, send included
                reply["server_timing"]["prev_total_ms"] = prev_total_ms
            return msgpack_numpy.packb(reply)
        except RequestError as exc:
            self.errors += 1
            logger.info("refused a request: %s", exc)
            return f"motionvla server: {exc}"
        except Exception as exc:  # noqa: BLE001 -- unexpected: reported to the client, logged with its traceback
            self.errors += 1
            logger.exception("request failed")
            return f"motionvla server: internal error ({type(exc).__name__}: {str(exc)[:300]})"


class ServerThread:
    """A :class:`PolicyServer` on its own event loop in a background thread (tests, benchmarks, notebooks).

    ``with ServerThread(server) as handle: PolicyClient("127.0.0.1", handle.port)``.
    """

    def __init__(self, server: PolicyServer, start_timeout_s: float = 30.0) -> None:
        self.server = server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="policy-server", daemon=True)
        self._thread.start()
        if not self._started.wait(start_timeout_s) or self._error is not None:
            raise RuntimeError(f"policy server did not start: {self._error!r}")

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def _main(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self.server.serve(self._started))
        except BaseException as exc:  # noqa: BLE001 -- reported to the starting thread
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.server.stop)
        self._thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""`motionvla serve`: a policy checkpoint behind openpi's websocket protocol (docs/deploy.md).

    motionvla serve --checkpoint=outputs/quickstart/train                  # ws://127.0.0.1:8000, local only
    motionvla serve --checkpoint=RUN --host=0.0.0.0 --token=$(cat token)   # other machines: a token is required

Robots connect with ``motionvla_client.PolicyClient`` or openpi-client's ``WebsocketClientPolicy``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from motionvla.errors import UserError


@dataclass
class Config:
    """Serve a checkpoint (motionvla or any lerobot policy) to robots over websocket (openpi's protocol)."""

    # A checkpoint folder, or a training run folder (its last checkpoint).
    checkpoint: str = ""
    # Address to listen on; anything but loopback (127.0.0.1, ::1, localhost) needs a token.
    host: str = "127.0.0.1"
    port: int = 8000
    # Token clients must present (Authorization: Api-Key <token>); empty: $MOTIONVLA_SERVE_TOKEN, else none.
    token: str = ""
    # Largest request frame served, MiB (bigger ones get an error reply).
    max_payload_mb: float = 10.0
    # How long a request waits for concurrent ones to share its forward pass, ms (0: only those already queued).
    batch_window_ms: float = 0.0
    # Most requests stacked into one forward pass (1: no batching).
    max_batch: int = 16
    # Torch device: cpu, cuda, auto.
    device: str = "auto"
    # Actions returned per request (0: the checkpoint's own n_action_steps).
    n_action_steps: int = 0
    # Robot observation key -> policy key, as JSON or a=b,c=d (e.g. observation/image=observation.images.front,prompt=task).
    rename_map: str = ""
    # Largest num_samples (uncertainty gate) a request may ask for.
    max_samples: int = 32
    # Noise scale of the uncertainty gate's extra action samples.
    sample_noise_scale: float = 1.0
    # Sampling steps of the motion head for a motion preview.
    motion_steps: int = 10
    # Run one fake observation through the policy before accepting clients (the first forward is slow).
    warmup: bool = True
    # Log level: debug, info, warning.
    log_level: str = "info"


def _validate(cfg: Config) -> None:
    if not cfg.checkpoint:
        raise UserError("--checkpoint is required (a checkpoint folder or a training run folder)")
    if not 0 <= cfg.port <= 65535:
        raise UserError(f"--port must be in 0..65535, got {cfg.port}")
    if cfg.max_payload_mb <= 0 or cfg.batch_window_ms < 0 or cfg.max_batch < 1 or cfg.max_samples < 0:
        raise UserError("need --max_payload_mb > 0, --batch_window_ms >= 0, --max_batch >= 1, --max_samples >= 0")
    if cfg.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise UserError(f"--log_level={cfg.log_level!r}; accepted: debug, info, warning, error")


def run(cfg: Config) -> None:
    from motionvla.deploy import PolicyServer, ServingPolicy, fake_observation, resolve_token
    from motionvla.inference import parse_rename_map

    _validate(cfg)
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rename = parse_rename_map(cfg.rename_map)
    token = resolve_token(cfg.host, cfg.token or None)  # refuse a public address without a token before loading
    start = time.perf_counter()
    policy = ServingPolicy(cfg.checkpoint, cfg.device, cfg.n_action_steps, option="--checkpoint",
                           sample_noise_scale=cfg.sample_noise_scale,
                           motion_steps=cfg.motion_steps)
    server = PolicyServer(policy, host=cfg.host, port=cfg.port, token=token,
                          max_payload_mb=cfg.max_payload_mb, batch_window_ms=cfg.batch_window_ms,
                          max_batch=cfg.max_batch, rename=rename, max_samples=cfg.max_samples)
    meta = policy.metadata
    print(f"loaded {meta.source} ({meta.policy_type}: cameras {meta.cameras or 'any'}, state {meta.state_dim}, "
          f"action {meta.action_dim}, {meta.n_action_steps} actions per request) in {time.perf_counter() - start:.1f} s")
    if cfg.warmup:
        policy.reset(seed=0)
        result = policy.infer(fake_observation(meta))
        print(f"warm-up inference: {result['policy_timing'].get('infer_ms', 0):.1f} ms")
    caps = ", ".join(k for k, v in server.capabilities.items() if v) or "none"
    print(f"serving on ws://{cfg.host}:{cfg.port} (GET /healthz; token {'required' if server.token else 'not required'};"
          f" extras: {caps}); Ctrl-C stops")
    asyncio.run(server.serve())

"""Data-parallel training with an expert-parallel MoE backbone equals training with a local one.

:func:`train_losses_on_rank` runs inside a gloo process group (see ``motionvla.utils.local_ranks``): it
builds the tiny policy with MoE layers (seeded, so every rank and every dispatcher starts from the same
weights), trains a few steps through :func:`motionvla.train.train` under DDP and returns the logged
losses. With ``dispatcher="local"`` every rank holds all experts; with ``ep``/``llep`` each holds a slice
and tokens/weights travel between ranks. The same losses at every step mean forward, backward, the
gradient bookkeeping of the sliced experts and the optimizer all agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


class _FakeItems(torch.utils.data.Dataset):
    """Training items cut from ``MotionVLAConfig.fake_batch`` (deterministic per index)."""

    def __init__(self, config: Any, n: int) -> None:
        batch = config.fake_batch(n, seed=123)
        self.items = [{k: (v[i] if isinstance(v, torch.Tensor) else v[i]) for k, v in batch.items()} for i in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def train_losses_on_rank(rank: int, world_size: int, dispatcher: str, out_dir: str, steps: int = 3,
                         num_experts: int = 4, min_tokens: int = 8) -> dict[str, Any]:
    """Train the tiny MoE policy for ``steps`` steps; returns ``{"losses", "moe_stats"}`` of this rank."""
    from motionvla.moe import full_state_dict, load_full_state_dict
    from motionvla.policy import MoEConfig, MotionVLAConfig, MotionVLAPolicy
    from motionvla.train import TrainConfig, read_metrics, train

    os.environ.setdefault("LOCAL_RANK", str(rank))
    moe = dict(num_experts=num_experts, top_k=2, min_tokens=min_tokens, imbalance_threshold=1.0)
    base = dict(image_size=32, motion_resolution=16, flow_max_magnitude=1.0, state_dim=4, action_dim=3, chunk_size=4, n_action_steps=4,
                device="cpu", num_inference_steps=2)
    torch.manual_seed(0)
    reference = MotionVLAPolicy(MotionVLAConfig(**base, moe=MoEConfig(**moe, dispatcher="local")))
    policy = MotionVLAPolicy(MotionVLAConfig(**base, moe=MoEConfig(**moe, dispatcher=dispatcher)))
    load_full_state_dict(policy, full_state_dict(reference))  # identical starting weights for every dispatcher
    out = Path(out_dir) / dispatcher
    cfg = TrainConfig(steps=steps, batch_size=4, log_every=1, lr=1e-3, output_dir=str(out), progress=False, seed=0)
    transfers: list[int] = []

    def record(step: int, metrics: dict) -> None:
        plans = [m.last_stats.get("plan") for m in policy.modules() if hasattr(m, "last_stats") and m.last_stats]
        transfers.append(sum(len(p.transfers) for p in plans if p is not None))

    train(policy, _FakeItems(policy.config, 8 * world_size), cfg, on_step_end=record)
    losses = [row["loss"] for row in read_metrics(out)] if rank == 0 else []
    return {"losses": losses, "transfers": transfers}

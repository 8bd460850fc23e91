"""What the server can do beyond ``Policy.infer`` for a motionvla checkpoint: the uncertainty gate's action
samples and the motion preview.

Uncertainty: the backbone runs **once** (``MotionVLAPolicy.sample_action_chunks``); its features are repeated for
``1 + S`` noise draws through the action head in one batch: draw 0 uses the checkpoint's own noise (``inference_noise_scale``,
so ``actions`` are exactly what a request without the flag gets), draws 1..S use unit Gaussian noise (the
distribution flow matching was trained from: with ``inference_noise_scale=0`` the executed chunk is
deterministic, but its samples still show how wide the learned action distribution is). After the
post-processor (actions in the robot's units) their per-step standard deviation over the S draws is
``action_std (n, A)`` and its mean ``action_spread``. The cost is S action-head passes, not S backbone passes.

Motion preview: ``predict_motion`` (a second backbone pass plus the motion DiT's sampling steps), as uint8
``(K, r, r, 3)`` motion images (hue = direction, saturation = magnitude, white = still).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from motionvla.inference import CheckpointPolicy, Policy


def capabilities(policy: Policy) -> dict[str, bool]:
    """Which request flags ``policy`` supports: ``num_samples``, ``motion_preview`` and ``rtc`` (real-time
    chunking: a checkpoint whose ``predict_action_chunk`` takes ``prefix_actions``)."""
    model = getattr(policy, "policy", None)
    sampling = isinstance(policy, ServingPolicy) and hasattr(model, "sample_action_chunks")
    rtc = isinstance(policy, CheckpointPolicy) and policy.supports_rtc
    return {"num_samples": sampling, "motion_preview": sampling and getattr(model, "motion_head", None) is not None,
            "rtc": rtc}


class ServingPolicy(CheckpointPolicy):
    """A :class:`CheckpointPolicy` that also answers :meth:`infer_extras` (motionvla checkpoints).

    Args (besides CheckpointPolicy's): ``sample_noise_scale``: noise scale of the S spread samples;
    ``motion_steps``: the motion DiT's sampling steps for a preview.
    """

    def __init__(self, *args: Any, sample_noise_scale: float = 1.0, motion_steps: int = 10, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sample_noise_scale = sample_noise_scale
        self.motion_steps = motion_steps

    def infer_extras(self, obs: dict[str, Any], num_samples: int = 0, motion_preview: bool = False) -> dict[str, Any]:
        """Like :meth:`infer` on N stacked observations, plus ``action_std`` ``(N, n, A)`` and
        ``action_spread`` ``(N,)`` when ``num_samples >= 2``, ``motion_images`` uint8 ``(N, K, r, r, 3)`` when
        ``motion_preview``."""
        import torch

        start = time.perf_counter()
        model = self.policy
        steps = self.metadata.n_action_steps
        batch = self._to_batch(obs)
        out: dict[str, Any] = {}
        with torch.inference_mode():
            if self.preprocessor is not None:
                batch = self.preprocessor(batch)
            chunk, samples = model.sample_action_chunks(batch, num_samples, self.sample_noise_scale)
            n, s = chunk.shape[0], num_samples
            chunks = torch.cat([chunk, samples.flatten(0, 1)])[:, :steps]
            if self.postprocessor is not None:
                chunks = self.postprocessor(chunks)
            chunks = chunks.detach().float().cpu()
            out["actions"] = chunks[:n].numpy().astype(np.float32)
            if s:
                std = chunks[n:].reshape(n, s, steps, -1).std(dim=1)
                out["action_std"] = std.numpy().astype(np.float32)
                out["action_spread"] = std.mean(dim=(1, 2)).numpy().astype(np.float32)
            if motion_preview:
                images = model.predict_motion(batch, num_steps=self.motion_steps)  # (N, K, 3, r, r) in [0, 1]
                pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2)
                out["motion_images"] = pixels.cpu().numpy()
        out["policy_timing"] = {"infer_ms": round(1000.0 * (time.perf_counter() - start), 3)}
        return out

"""Non-learned future-flow forecasts and the forecast error table: what a learned forecaster must beat.

- ``zero``: nothing moves.
- ``last``: the last observed flow (t0-1 -> t0) carried forward for every horizon.
- ``linear``: the observed flow extrapolated linearly, ``f(t0-1) + k (f(t0-1) - f(t0-2))`` at horizon k
  (needs two observed flows, i.e. ``frames_in >= 3``; with one it equals ``last``).
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor

from motionvla.flow import angular_error_map

BASELINES = ("zero", "last", "linear")


def baseline_forecast(name: str, past_flow: Tensor, future: int) -> Tensor:
    """``past_flow (B, P, 2, H, W)`` -> forecast ``(B, K, 2, H, W)`` in the same units."""
    b, p, _, h, w = past_flow.shape
    if name == "zero" or p == 0:
        return past_flow.new_zeros(b, future, 2, h, w)
    last = past_flow[:, -1:]
    if name == "last" or p == 1:
        return last.expand(b, future, 2, h, w).clone()
    if name == "linear":
        step = last - past_flow[:, -2:-1]
        k = torch.arange(1, future + 1, device=past_flow.device, dtype=past_flow.dtype).view(1, future, 1, 1, 1)
        return last + k * step
    raise ValueError(f"unknown baseline {name!r}; accepted: {', '.join(BASELINES)}")


class ForecastErrors:
    """Accumulates end-point and angular errors per horizon over batches.

    ``add(pred, target)``: ``(B, K, 2, H, W)`` flows in pixels. A pixel "moves" where the *target* magnitude
    exceeds ``moving_threshold_px``; moving-pixel EPE is summed over such pixels of all samples (pixel-weighted).
    """

    def __init__(self, moving_threshold_px: float) -> None:
        self.threshold = moving_threshold_px
        self.sums: dict[str, Tensor] = defaultdict(lambda: torch.zeros(0))

    def _acc(self, name: str, value: Tensor) -> None:
        current = self.sums.get(name)
        self.sums[name] = value.double() if current is None or current.numel() == 0 else current + value.double()

    def add(self, pred: Tensor, target: Tensor, group: str | None = None) -> None:
        pred, target = pred.float(), target.float()
        epe = (pred - target).norm(dim=2)  # (B, K, H, W)
        moving = target.norm(dim=2) > self.threshold
        ang = angular_error_map(pred, target)  # (B, K, H, W) degrees
        for prefix in ("all", f"group:{group}") if group else ("all",):
            self._acc(f"{prefix}/epe_sum", epe.sum(dim=(0, 2, 3)))
            self._acc(f"{prefix}/pixels", torch.full((epe.shape[1],), float(epe[:, 0].numel())))
            self._acc(f"{prefix}/moving_epe_sum", (epe * moving).sum(dim=(0, 2, 3)))
            self._acc(f"{prefix}/moving_pixels", moving.sum(dim=(0, 2, 3)).float())
            self._acc(f"{prefix}/angular_sum", (ang * moving).sum(dim=(0, 2, 3)))
            self._acc(f"{prefix}/samples", torch.tensor([float(epe.shape[0])]))

    def summary(self, prefix: str = "all") -> dict:
        """``{"epe", "epe_moving", "angular_moving_deg", "per_horizon": [...], "samples"}``."""
        s = {k.split("/", 1)[1]: v for k, v in self.sums.items() if k.startswith(prefix + "/")}
        if not s:
            return {}
        moving = torch.where(s["moving_pixels"] > 0, s["moving_pixels"], torch.nan)  # no moving pixel: NaN, not 0
        per_h = [{"horizon": k + 1, "epe": float(s["epe_sum"][k] / s["pixels"][k]),
                  "epe_moving": float(s["moving_epe_sum"][k] / moving[k]),
                  "angular_moving_deg": float(s["angular_sum"][k] / moving[k])} for k in range(len(s["epe_sum"]))]
        total_moving = s["moving_pixels"].sum()
        total_moving = total_moving if total_moving > 0 else torch.tensor(float("nan"))
        return {"epe": float(s["epe_sum"].sum() / s["pixels"].sum()),
                "epe_moving": float(s["moving_epe_sum"].sum() / total_moving),
                "angular_moving_deg": float(s["angular_sum"].sum() / total_moving),
                "moving_fraction": float(s["moving_pixels"].sum() / s["pixels"].sum()),
                "samples": int(s["samples"].sum()), "per_horizon": per_h}

    def groups(self) -> list[str]:
        return sorted({k.split("/", 1)[0][len("group:"):] for k in self.sums if k.startswith("group:")})

"""Skewed routing scenarios from the LLEP paper: "X% of tokens spread evenly over H hot experts".

The rest of the tokens are routed uniformly over all experts. Hot experts are the first H experts,
so they sit on the fewest devices (expert e lives on device e // (N / P)): the worst case for plain
expert parallelism, which is what the scenarios are meant to show.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Scenario:
    """``hot_fraction`` of the (token, top-k slot) pairs go to experts ``0 .. num_hot - 1``."""

    name: str
    hot_fraction: float
    num_hot: int


BALANCED = Scenario("balanced", 0.0, 0)
PAPER_SCENARIOS: tuple[Scenario, ...] = (BALANCED,) + tuple(
    Scenario(f"{int(fraction * 100)}%->{hot}", fraction, hot) for fraction in (0.3, 0.5, 0.8, 0.95) for hot in (16, 4, 1)
)


def scenario_by_name(name: str) -> Scenario:
    """Look a scenario up by its name (``balanced``, ``95%->1``, ...)."""
    for scenario in PAPER_SCENARIOS:
        if scenario.name == name:
            return scenario
    raise ValueError(f"unknown routing scenario {name!r}; accepted: {', '.join(s.name for s in PAPER_SCENARIOS)}")


def scenario_routing(
    scenario: Scenario, num_tokens: int, num_experts: int, top_k: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forced routing for ``num_tokens`` tokens: ``indices (T, k) long`` and ``weights (T, k) float32``.

    Each (token, slot) independently picks a hot expert with probability ``hot_fraction``, otherwise
    any expert uniformly; a token may pick the same expert twice (dispatchers must handle it).
    Weights are a softmax of random logits over the k slots.
    """
    if scenario.num_hot > num_experts:
        raise ValueError(f"scenario {scenario.name} needs {scenario.num_hot} experts, the layer has {num_experts}")
    uniform = torch.randint(0, num_experts, (num_tokens, top_k), generator=generator)
    if scenario.num_hot:
        hot = torch.randint(0, scenario.num_hot, (num_tokens, top_k), generator=generator)
        is_hot = torch.rand((num_tokens, top_k), generator=generator) < scenario.hot_fraction
        uniform = torch.where(is_hot, hot, uniform)
    weights = torch.softmax(torch.randn((num_tokens, top_k), generator=generator), dim=-1)
    return uniform, weights

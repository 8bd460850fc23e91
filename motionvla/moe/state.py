"""Expert-parallel parameters in a larger model: find them, and save/load the model as one full state.

With the ``ep``/``llep`` dispatchers each rank holds a different slice of every MoE layer's experts, so
(1) data parallelism must not average those parameters across ranks (each rank owns its slice), and
(2) a checkpoint should hold all experts, so it loads into a ``local`` model or another world size.
"""

from __future__ import annotations

import torch
from torch import nn

from motionvla.moe.layer import MoEFeedForward

EXPERT_WEIGHTS = ("w_gate", "w_up", "w_down")


def sharded_moe_layers(model: nn.Module) -> dict[str, MoEFeedForward]:
    """``{module name: layer}`` for every MoE layer whose experts are split over ranks (``ep``/``llep``)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, MoEFeedForward) and m.dispatcher != "local"}


def expert_parallel_parameter_names(model: nn.Module) -> list[str]:
    """Names (as in ``model.named_parameters()``) of the parameters that are rank-local expert slices."""
    names = []
    for layer_name, layer in sharded_moe_layers(model).items():
        prefix = f"{layer_name}.experts." if layer_name else "experts."
        names += [prefix + w for w in EXPERT_WEIGHTS]
    return names


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` with every sharded expert tensor gathered to all ``num_experts`` experts.

    Collective when the model has sharded layers: every rank of their groups must call it.
    """
    state = dict(model.state_dict())
    for layer_name, layer in sharded_moe_layers(model).items():
        full = layer.gather_full()
        prefix = f"{layer_name}.experts." if layer_name else "experts."
        for w in EXPERT_WEIGHTS:
            state[prefix + w] = getattr(full.experts, w).detach()
    return state


@torch.no_grad()
def load_full_state_dict(model: nn.Module, state: dict[str, torch.Tensor], strict: bool = True) -> None:
    """Load a full state (all experts) into ``model``, each sharded layer taking its own rank's slice."""
    state = dict(state)
    for layer_name, layer in sharded_moe_layers(model).items():
        prefix = f"{layer_name}.experts." if layer_name else "experts."
        lo = layer.experts.first_expert
        hi = lo + layer.experts.num_experts
        for w in EXPERT_WEIGHTS:
            key = prefix + w
            if key in state:
                if state[key].shape[0] != layer.num_experts:
                    raise ValueError(f"{key}: expected {layer.num_experts} experts, got {state[key].shape[0]}")
                state[key] = state[key][lo:hi]
    model.load_state_dict(state, strict=strict)

"""Mixture-of-experts layers with exact expert parallelism and Least-Loaded Expert Parallelism (LLEP).

Depends on torch (and numpy for the planner) only.
"""

from motionvla.moe.layer import DISPATCHERS, MoEFeedForward
from motionvla.moe.planner import LLEPPlan, plan_ep, plan_llep, route_counts
from motionvla.moe.routing import Routing, TopKRouter
from motionvla.moe.state import expert_parallel_parameter_names, full_state_dict, load_full_state_dict
from motionvla.moe.upcycle import upcycle_to_moe

__all__ = [
    "expert_parallel_parameter_names",
    "full_state_dict",
    "load_full_state_dict",
    "DISPATCHERS",
    "LLEPPlan",
    "MoEFeedForward",
    "Routing",
    "TopKRouter",
    "plan_ep",
    "plan_llep",
    "route_counts",
    "upcycle_to_moe",
]

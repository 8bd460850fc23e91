"""Mixture-of-experts layers with exact expert parallelism and Least-Loaded Expert Parallelism (LLEP).

Depends on torch (and numpy for the planner) only.
"""

from motionvla.moe.layer import DISPATCHERS, MoEFeedForward
from motionvla.moe.planner import LLEPPlan, plan_ep, plan_llep, route_counts
from motionvla.moe.routing import Routing, TopKRouter
from motionvla.moe.upcycle import upcycle_to_moe

__all__ = [
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

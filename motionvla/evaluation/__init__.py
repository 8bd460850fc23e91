"""Policy evaluation in simulated envs: ``motionvla eval`` (see :mod:`motionvla.cli.eval`)."""

from motionvla.evaluation.policies import (
    CheckpointPolicy,
    EvalPolicy,
    ExpertPolicy,
    PolicySpec,
    RandomPolicy,
    load_policy,
    make_policy,
    obs_to_batch,
)
from motionvla.evaluation.report import build_eval_info, format_table
from motionvla.evaluation.rollout import EnvSpec, EpisodeResult, EpisodeSpec, run_episode, run_episodes

__all__ = [
    "CheckpointPolicy",
    "EnvSpec",
    "EpisodeResult",
    "EpisodeSpec",
    "EvalPolicy",
    "ExpertPolicy",
    "PolicySpec",
    "RandomPolicy",
    "build_eval_info",
    "format_table",
    "load_policy",
    "make_policy",
    "obs_to_batch",
    "run_episode",
    "run_episodes",
]

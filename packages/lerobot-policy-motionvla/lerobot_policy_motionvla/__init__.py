"""Importing this registers the ``motionvla`` and ``pi05_motion`` policy types (config, model, processors) and the
``motionvla_tabletop`` environment type with lerobot.

lerobot imports it at start-up of ``lerobot-train`` / ``lerobot-eval``. It also points LIBERO at the config
``make libero`` wrote (when LIBERO is set up), so ``lerobot-eval --env.type=libero`` never stops at LIBERO's
interactive first-run prompt.
"""

import motionvla.policy  # noqa: F401 -- registers the policy types' configs
# the model and processor modules, which motionvla.policy imports on first use: lerobot's factory finds the policy
# class through them, and a saved processor pipeline names the `motionvla_flow_targets` step they register
import motionvla.policy.modeling_motionvla  # noqa: F401
import motionvla.policy.processor_motionvla  # noqa: F401
import motionvla.policy.pi05_motion  # noqa: F401 -- registers pi05_motion
import sim_envs.tabletop.lerobot_env  # noqa: F401 -- `lerobot-eval --env.type=motionvla_tabletop`

try:
    from sim_envs.libero.install import LiberoNotInstalled, prepare

    try:
        prepare()
    except LiberoNotInstalled:
        pass  # LIBERO is optional; lerobot-eval on other envs does not need it
except ImportError:  # an older motionvla without the LIBERO family
    pass

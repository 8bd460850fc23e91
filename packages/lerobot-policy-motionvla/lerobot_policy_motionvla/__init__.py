"""Importing this registers the ``motionvla`` and ``pi05_motion`` policy types (config, model, processors) with lerobot.

lerobot imports it at start-up of ``lerobot-train`` / ``lerobot-eval``. It also points LIBERO at the config
``make libero`` wrote (when LIBERO is set up), so ``lerobot-eval --env.type=libero`` never stops at LIBERO's
interactive first-run prompt.
"""

import motionvla.policy  # noqa: F401 -- registration happens at import

try:
    from sim_envs.libero.install import LiberoNotInstalled, prepare

    try:
        prepare()
    except LiberoNotInstalled:
        pass  # LIBERO is optional; lerobot-eval on other envs does not need it
except ImportError:  # an older motionvla without the LIBERO family
    pass

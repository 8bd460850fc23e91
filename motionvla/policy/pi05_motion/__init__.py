"""``pi05_motion``: lerobot's π0.5 (PaliGemma + Gemma action expert) plus our training-only motion head.

- :mod:`~.configuration_pi05_motion`: ``PI05MotionConfig`` (a ``PI05Config``; lerobot type ``pi05_motion``).
- :mod:`~.modeling_pi05_motion`: ``PI05MotionPolicy`` (a ``PI05Policy`` + ``MotionDiT`` on PaliGemma's prefix).
- :mod:`~.prefix`: how the prefix hidden states are taken from lerobot's forward pass, and their mask.
- :mod:`~.processor_pi05_motion`: lerobot's π0.5 processors + the ``motionvla_flow_targets`` step.
- :mod:`~.init_from_pi05`: a lerobot-train starting folder from a π0.5 checkpoint (``lerobot/pi05_base``).
- :mod:`~.describe`: parameter counts of the full-size policy, built on the meta device.

Importing this package registers the config; lerobot's factory imports the modeling and processor modules
by naming convention when the type is used (``get_policy_class("pi05_motion")``, ``make_pre_post_processors``).
"""

from motionvla.policy.pi05_motion.configuration_pi05_motion import PI05MotionConfig

__all__ = ["PI05MotionConfig"]

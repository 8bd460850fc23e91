"""The key vocabulary of observations, actions and motion targets: one place, imported by every layer (sim_envs
included, which is why this module imports nothing).

The first four are LeRobot's (``lerobot.utils.constants``), spelled out because importing lerobot pulls in torch
and sim_envs stays torch-free; a test checks they agree.
"""

IMAGE_KEY_PREFIX = "observation.images."
STATE_KEY = "observation.state"
ACTION_KEY = "action"
TASK_KEY = "task"

# Motion-head training targets (motionvla.datasets.flow_targets makes them; the policies read them).
MOTION_KEY = "motion"  # future flow (B, K, 2, H, W), pixels
MOTION_MASK_KEY = "motion_mask"  # (B, K) bool: future flows inside the episode
MOTION_PAST_KEY = "motion_past"  # the observed flow, frame t - stride -> t, (1, 2, H, W) pixels

# Real-time chunking request keys (Policy.infer, the server): the previous chunk's actions still to execute, in the
# robot's units, (P, A) or (N, P, A), and how many of them execute while this chunk is computed (int, < chunk).
RTC_PREFIX_KEY = "rtc.prefix_actions"
RTC_DELAY_KEY = "rtc.delay"


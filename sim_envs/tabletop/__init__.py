"""Built-in MuJoCo tabletop: one shared scene, several language-conditioned tasks.

Public API: :class:`TabletopEnv`, :class:`ScriptedExpert`, :data:`TASKS`,
:func:`get_task`, :func:`run_expert_episode` and constants ``STATE_DIM``, ``ACTION_DIM``, ``CAMERAS``.
"""

from sim_envs.tabletop.env import ACTION_DIM, MAX_EE_SPEED, STATE_DIM, TabletopEnv
from sim_envs.tabletop.expert import ScriptedExpert, run_expert_episode
from sim_envs.tabletop.scene import CAMERAS, OBJECTS
from sim_envs.tabletop.tasks import TASKS, Task, get_task

__all__ = [
    "ACTION_DIM",
    "CAMERAS",
    "MAX_EE_SPEED",
    "OBJECTS",
    "STATE_DIM",
    "TASKS",
    "ScriptedExpert",
    "TabletopEnv",
    "Task",
    "get_task",
    "run_expert_episode",
]

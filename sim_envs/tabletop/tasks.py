"""Language-conditioned tasks of the shared tabletop scene.

Every task uses the same scene with all objects present, so the instruction
(not the picture) decides what to do.  Directions are as seen from the
``"front"`` camera: left = -x, right = +x, forward = +y (away from the
camera).  Success predicates read a :class:`SceneState` snapshot of the
simulator; thresholds are the named constants below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim_envs.tabletop.scene import OBJECT_HALF_SIZES

#: Push success: displacement of the object's centre along the instructed
#: direction, metres (from its position at reset).
PUSH_DISTANCE = 0.08
#: Push success also needs the object to still rest on the table: centre at
#: most this far above its resting height (i.e. it was pushed, not carried).
ON_TABLE_TOL = 0.01
#: Lift success: object's bottom face at least this high above the table.
LIFT_HEIGHT = 0.08
#: Place success: horizontal distance of object centre to pad centre.
#: The pad radius is 5 cm, so the object's centre lies well inside the disc.
PLACE_RADIUS = 0.035

Kind = Literal["push", "lift", "place"]

DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "forward": (0.0, 1.0),
    "backward": (0.0, -1.0),
}


@dataclass(frozen=True)
class SceneState:
    """What success predicates may read.

    Attributes:
        obj_pos: object name -> (3,) current centre, metres.
        obj_init: object name -> (3,) centre at reset, metres.
        pad_xy: (2,) centre of the yellow pad, metres.
        touching: names of objects currently in contact with a finger.
    """

    obj_pos: dict[str, np.ndarray]
    obj_init: dict[str, np.ndarray]
    pad_xy: np.ndarray
    touching: frozenset[str]


@dataclass(frozen=True)
class Task:
    """One tabletop task.

    Attributes:
        name: registry name, e.g. ``"push_red_left"``.
        instruction: natural-language instruction given to the policy.
        kind: ``"push"`` | ``"lift"`` | ``"place"`` (used by the scripted expert).
        obj: name of the object to manipulate.
        direction: unit (dx, dy) for pushes, ``None`` otherwise.
        max_episode_steps: default episode length in control steps.
    """

    name: str
    instruction: str
    kind: Kind
    obj: str
    direction: tuple[float, float] | None
    max_episode_steps: int

    def is_success(self, s: SceneState) -> bool:
        """Success predicate on a simulator snapshot."""
        pos = s.obj_pos[self.obj]
        rest_z = OBJECT_HALF_SIZES[self.obj][2]
        if self.kind == "push":
            assert self.direction is not None
            moved = float(np.dot(pos[:2] - s.obj_init[self.obj][:2], self.direction))
            return moved >= PUSH_DISTANCE and pos[2] <= rest_z + ON_TABLE_TOL
        if self.kind == "lift":
            return pos[2] - rest_z >= LIFT_HEIGHT
        if self.kind == "place":
            near = float(np.linalg.norm(pos[:2] - s.pad_xy)) <= PLACE_RADIUS
            # Resting on the table/pad and released: a held object hovering
            # over the pad does not count.
            resting = pos[2] <= rest_z + ON_TABLE_TOL
            return near and resting and self.obj not in s.touching
        raise ValueError(f"unknown task kind {self.kind!r}")


def _push(obj: str, label: str, direction: str) -> Task:
    return Task(
        name=f"push_{obj.split('_')[0]}_{direction}",
        instruction=f"push the {label} to the {direction}" if direction in ("left", "right") else f"push the {label} {direction}",
        kind="push",
        obj=obj,
        direction=DIRECTIONS[direction],
        max_episode_steps=80,
    )


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        _push("red_block", "red block", "left"),
        _push("blue_block", "blue block", "forward"),
        _push("green_cube", "green cube", "right"),
        Task("lift_red", "lift the red block", "lift", "red_block", None, 60),
        Task("green_on_yellow", "put the green cube on the yellow pad", "place", "green_cube", None, 120),
        Task("blue_on_yellow", "put the blue block on the yellow pad", "place", "blue_block", None, 120),
    )
}


def get_task(name: str) -> Task:
    """Look up a task by bare name or ``"tabletop/<name>"``; ValueError lists accepted names."""
    bare = name.removeprefix("tabletop/")
    if bare not in TASKS:
        raise ValueError(f"unknown tabletop task {name!r}; accepted: {', '.join(TASKS)}")
    return TASKS[bare]

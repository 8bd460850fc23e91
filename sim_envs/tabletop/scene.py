"""Scene constants, MJCF loading and seeded layout sampling for the tabletop.

Frame convention (see ``assets/tabletop.xml``): z = 0 is the table surface;
seen from the ``"front"`` camera, +x is right, -x is left, +y is forward
(away from the camera), +z is up.  All lengths are metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import mujoco
import numpy as np

ASSET_XML = "tabletop.xml"

#: Camera names defined in the MJCF.  "wrist" moves with the gripper.
CAMERAS: tuple[str, ...] = ("front", "top", "wrist")

#: Geom group of the palm/wrist, hidden from the in-palm "wrist" camera.
PALM_GROUP = 2

#: Objects present in every episode (body name == geom name == freejoint name).
OBJECTS: tuple[str, ...] = ("red_block", "blue_block", "green_cube")
#: Flat, contact-free target pad (a mocap body, placed through ``data.mocap_pos``).
PAD = "yellow_pad"
PAD_RADIUS = 0.05

#: Half sizes (x, y, z) of each object's box, mirrored from the MJCF (checked at load).
OBJECT_HALF_SIZES: dict[str, tuple[float, float, float]] = {
    "red_block": (0.03, 0.02, 0.02),
    "blue_block": (0.03, 0.02, 0.02),
    "green_cube": (0.02, 0.02, 0.02),
}

#: Region where object/pad centres are sampled.  It leaves >= 12 cm of table
#: (and of gripper workspace) beyond every object in every push direction.
SPAWN_X = (-0.18, 0.18)
SPAWN_Y = (-0.13, 0.13)
#: Minimum centre distance between any two objects (and object <-> pad).  Large
#: enough that the gripper can descend beside any object without landing on
#: another one.
MIN_SEPARATION = 0.12
#: Objects get a random yaw in [-MAX_YAW, MAX_YAW] rad (the fixed-yaw gripper
#: still fits around a rotated block: 7 cm opening vs. <= 5.5 cm footprint).
MAX_YAW = 0.25

#: Gripper workspace for the commanded grip point: ((xmin, xmax), (ymin, ymax), (zmin, zmax)).
EE_BOUNDS = np.array([[-0.33, 0.33], [-0.28, 0.28], [0.015, 0.3]])
#: Gripper home position and the +/- jitter applied to it at reset.
EE_HOME = np.array([0.0, -0.12, 0.15])
EE_HOME_JITTER = 0.03
#: Per-finger travel; inner-face gap ("opening") is twice the finger qpos.
FINGER_MAX = 0.035


def load_model() -> mujoco.MjModel:
    """Compile the shipped MJCF into a fresh ``MjModel`` (one per env: envs mutate it)."""
    xml = resources.files("sim_envs.tabletop").joinpath("assets", ASSET_XML).read_text()
    model = mujoco.MjModel.from_xml_string(xml)
    for name, half in OBJECT_HALF_SIZES.items():
        gid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        if not np.allclose(model.geom_size[gid], half):  # keep constants and XML in sync
            raise RuntimeError(f"{ASSET_XML}: geom {name} size {model.geom_size[gid]} != {half}")
    return model


@dataclass(frozen=True)
class Layout:
    """One episode's initial placement.

    Attributes:
        objects: name -> (x, y, yaw) of each object, metres / radians.
        pad: (x, y) centre of the yellow pad, metres.
        ee_home: (3,) initial grip-point position, metres.
    """

    objects: dict[str, tuple[float, float, float]]
    pad: tuple[float, float]
    ee_home: np.ndarray


def sample_layout(rng: np.random.Generator, max_tries: int = 1000) -> Layout:
    """Draw non-overlapping, reachable positions for all objects and the pad.

    Rejection sampling: each item is drawn uniformly in the spawn region and
    kept if it is at least ``MIN_SEPARATION`` from everything placed so far.
    The whole layout is redrawn if an item cannot be placed (rare).
    """
    names = (*OBJECTS, PAD)
    for _ in range(max_tries):
        placed: list[np.ndarray] = []
        for _name in names:
            for _ in range(50):
                xy = np.array([rng.uniform(*SPAWN_X), rng.uniform(*SPAWN_Y)])
                if all(np.linalg.norm(xy - p) >= MIN_SEPARATION for p in placed):
                    placed.append(xy)
                    break
            else:
                break
        if len(placed) == len(names):
            yaws = rng.uniform(-MAX_YAW, MAX_YAW, size=len(OBJECTS))
            objects = {
                n: (float(p[0]), float(p[1]), float(a))
                for n, p, a in zip(OBJECTS, placed, yaws, strict=False)
            }
            ee_home = EE_HOME + rng.uniform(-EE_HOME_JITTER, EE_HOME_JITTER, size=3)
            return Layout(objects=objects, pad=(float(placed[-1][0]), float(placed[-1][1])), ee_home=ee_home)
    raise RuntimeError("could not sample a non-overlapping tabletop layout")


class SceneHandles:
    """Resolved MuJoCo ids / addresses for the named parts of the scene."""

    def __init__(self, model: mujoco.MjModel) -> None:
        def jid(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

        def bid(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)

        def gid(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)

        self.ee_qpos = np.array([model.jnt_qposadr[jid(n)] for n in ("ee_x", "ee_y", "ee_z")])
        self.ee_qvel = np.array([model.jnt_dofadr[jid(n)] for n in ("ee_x", "ee_y", "ee_z")])
        self.finger_qpos = np.array([model.jnt_qposadr[jid(n)] for n in ("finger_left", "finger_right")])
        self.finger_qvel = np.array([model.jnt_dofadr[jid(n)] for n in ("finger_left", "finger_right")])
        self.obj_qpos = {n: int(model.jnt_qposadr[jid(n)]) for n in OBJECTS}
        self.obj_body = {n: bid(n) for n in OBJECTS}
        self.obj_geom = {n: gid(n) for n in OBJECTS}
        self.pad_body = bid(PAD)
        self.pad_mocap = int(model.body_mocapid[self.pad_body])
        self.finger_geoms = frozenset((gid("finger_left"), gid("finger_right")))
        self.ee_act = np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in ("ee_x", "ee_y", "ee_z")])
        self.finger_act = np.array(
            [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in ("finger_left", "finger_right")]
        )


def apply_layout(model: mujoco.MjModel, data: mujoco.MjData, h: SceneHandles, layout: Layout) -> None:
    """Write ``layout`` into ``data`` (resets time, velocities and controls)."""
    mujoco.mj_resetData(model, data)
    for name, (x, y, yaw) in layout.objects.items():
        adr = h.obj_qpos[name]
        # Resting exactly on the table (z = half height): no drop transient.
        data.qpos[adr : adr + 3] = (x, y, OBJECT_HALF_SIZES[name][2])
        data.qpos[adr + 3 : adr + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
    data.mocap_pos[h.pad_mocap][:2] = layout.pad
    data.qpos[h.ee_qpos] = layout.ee_home
    data.qpos[h.finger_qpos] = FINGER_MAX  # start open
    data.ctrl[h.ee_act] = layout.ee_home
    data.ctrl[h.finger_act] = FINGER_MAX
    mujoco.mj_forward(model, data)

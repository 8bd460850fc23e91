"""XPolicyLab's ``Model`` for motionvla (and any lerobot) checkpoints: RoboTwin ``main``'s policy-server route.

RoboTwin's current ``main`` evaluates every policy through XPolicyLab (a git submodule): XPolicyLab's
``setup_policy_server.py`` imports ``XPolicyLab.policy.<Name>.model.Model(deploy_cfg)`` and serves it over
a websocket (msgpack frames); RoboTwin's ``scripts/eval_policy_xpolicylab.py`` is the client. Per episode
the server calls ``reset()``, then for each chunk ``update_obs(obs)`` and ``get_action()``; the client
executes the returned actions with ``take_action(..., action_type="qpos")`` (``action_type: joint``).

XPolicyLab observations (format ``v1.0``, built by RoboTwin's ``robotwin_obs_to_xpolicylab``)::

    obs["vision"][cam]["color"]     uint8 (H, W, 3), cam in cam_head / cam_left_wrist / cam_right_wrist
    obs["state"]["left_arm_joint_state"] (6,), ["left_ee_joint_state"] (1,), and the same for right_
    obs["instruction"]              str

Actions are returned as XPolicyLab action dicts, one per step, with the same four ``*_joint_state`` keys.
All the work (camera names, resizing, fit checks, seeding) is shared with the RoboTwin 2.0 plug-in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from motionvla.errors import UserError
from motionvla.integrations.robotwin.policy_model import RoboTwinPolicyModel
from motionvla.keys import IMAGE_KEY_PREFIX, STATE_KEY, TASK_KEY

#: XPolicyLab camera (RoboTwin's CAMERA_NAME_MAP) -> lerobot aloha-style names, as XPolicyLab's LeRobot v3.0
#: converter (scripts/transform_lerobot_v30_format.py) names them.
XPOLICYLAB_CAMERA_MAP = {"cam_head": "cam_high", "cam_left_wrist": "cam_left_wrist", "cam_right_wrist": "cam_right_wrist"}
#: (arm key, end-effector key) per arm, in the order of RoboTwin's joint vector.
ARM_KEYS = (("left_arm_joint_state", "left_ee_joint_state"), ("right_arm_joint_state", "right_ee_joint_state"))


def env_observation(obs: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """An XPolicyLab observation as the plug-in's env-side observation, and the (arm, ee) sizes per arm.

    Returns ``{"observation.images.<xpolicylab cam>": uint8 (H, W, 3), "observation.state": float32
    (sum of sizes,), "task": str}`` and e.g. ``[(6, 1), (6, 1)]``.
    """
    out: dict[str, Any] = {}
    for name, camera in (obs.get("vision") or {}).items():
        if isinstance(camera, dict) and camera.get("color") is not None:
            out[IMAGE_KEY_PREFIX + name] = np.ascontiguousarray(camera["color"], dtype=np.uint8)
    state = obs.get("state") or {}
    missing = [key for pair in ARM_KEYS for key in pair if key not in state]
    if missing:
        raise UserError(f"XPolicyLab observation lacks state {', '.join(missing)} (has {', '.join(state) or 'none'}); "
                        "the MotionVLA adapter needs a dual-arm joint state (action_type: joint)")
    parts, sizes = [], []
    for arm_key, ee_key in ARM_KEYS:
        arm = np.asarray(state[arm_key], dtype=np.float32).reshape(-1)
        ee = np.asarray(state[ee_key], dtype=np.float32).reshape(-1)
        parts += [arm, ee]
        sizes.append((arm.size, ee.size))
    out[STATE_KEY] = np.concatenate(parts)
    out[TASK_KEY] = str(obs.get("instruction") or "")
    return out, sizes


def action_dicts(actions: np.ndarray, sizes: list[tuple[int, int]]) -> list[dict[str, np.ndarray]]:
    """A chunk ``(n, A)`` as XPolicyLab action dicts (``left_arm_joint_state`` (6,), ``left_ee_joint_state``
    (1,), ...), split with the observation's per-arm sizes."""
    expected = sum(a + e for a, e in sizes)
    if actions.shape[-1] != expected:
        raise UserError(f"the policy's {actions.shape[-1]}-dim actions do not split into the arms' {sizes} ({expected} values)")
    out = []
    for action in actions:
        step, offset = {}, 0
        for (arm_key, ee_key), (arm, ee) in zip(ARM_KEYS, sizes):
            step[arm_key] = action[offset : offset + arm]
            step[ee_key] = action[offset + arm : offset + arm + ee]
            offset += arm + ee
        out.append(step)
    return out


class Model:
    """XPolicyLab's model contract (``policy/demo_policy/model.py`` in XPolicyLab) over :class:`RoboTwinPolicyModel`.

    ``model_cfg`` is deploy.yml with the server's overrides: ``checkpoint`` (or XPolicyLab's ``ckpt_dir``),
    ``device``, ``n_action_steps``, ``camera_map``, ``resize_images``, ``seed``, ``action_type`` (joint).
    """

    def __init__(self, model_cfg: dict[str, Any]) -> None:
        cfg = dict(model_cfg)
        action_type = str(cfg.get("action_type") or "joint").lower()
        if action_type not in ("joint", "qpos"):
            raise UserError(f"action_type={action_type!r}: the MotionVLA adapter predicts joint targets; use action_type joint")
        if not cfg.get("checkpoint"):
            cfg["checkpoint"] = cfg.get("ckpt_dir")  # XPolicyLab's name for the resolved checkpoint folder
        self.runner = RoboTwinPolicyModel.from_usr_args(cfg, default_camera_map=XPOLICYLAB_CAMERA_MAP)
        self._obs: dict[str, Any] | None = None
        self._sizes: list[tuple[int, int]] = []

    def update_obs(self, obs: dict[str, Any]) -> None:
        """Keep the latest observation; the next ``get_action`` acts on it."""
        self._obs, self._sizes = env_observation(obs)

    def get_action(self) -> list[dict[str, np.ndarray]]:
        """The next chunk: ``n_action_steps`` XPolicyLab action dicts."""
        if self._obs is None:
            raise RuntimeError("get_action() before update_obs(): XPolicyLab sends an observation with every infer")
        return action_dicts(self.runner.get_action(self._obs), self._sizes)

    def reset(self) -> None:
        """A new episode (the policy's state cleared and reseeded)."""
        self.runner.reset_model()
        self._obs = None

    def prepare_case(self, case_meta: dict[str, Any] | None = None) -> None:
        """Optional XPolicyLab hook; nothing to prepare (the instruction comes with each observation)."""

    def on_trial_end(self, result: dict[str, Any] | None = None) -> None:
        """Optional XPolicyLab hook; nothing to record."""

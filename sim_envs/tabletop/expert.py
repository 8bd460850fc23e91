"""Scripted waypoint expert for the tabletop tasks (uses privileged sim state)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from sim_envs.tabletop.scene import OBJECT_HALF_SIZES

#: Travel height of the grip point between waypoints: a carried object's
#: bottom (grip point - 2 cm) clears every 4 cm-tall object on the table.
SAFE_Z = 0.10
#: Grip-point height while pushing (fingertips 2 mm above the table).
PUSH_Z = 0.02
#: Gap kept between fingers and object before a push starts.
PUSH_CLEARANCE = 0.02
#: The expert keeps pushing until the object moved this far (task needs 8 cm).
PUSH_GOAL = 0.11
#: Grip point at the object's centre height when grasping.
GRASP_Z = 0.02
#: Lift target for the lift task (task needs the bottom 8 cm above the table).
LIFT_Z = 0.16
#: Release height: object's bottom this far above the table when opening.
PLACE_DROP = 0.004
#: Seconds spent closing / opening the gripper (converted to control steps,
#: so the expert works at any control rate).
CLOSE_S = 0.4
OPEN_S = 0.3
#: Position tolerance (m) for reaching a waypoint.
TOL = 0.006
#: A phase that has not converged after this many seconds is abandoned (moves on).
PHASE_TIMEOUT_S = 6.0
#: Fraction of the maximum step used for free-space moves (smoother demos).
SPEED = 0.45
#: Fraction of the maximum step used while pushing (slow pushes stay on line).
PUSH_SPEED = 0.35
#: Half-extent of the closed finger pair along x and y (see the MJCF).
FINGER_HALF = np.array([0.012, 0.014])

OPEN, CLOSED = -1.0, 1.0


class ScriptedExpert:
    """Waypoint controller that solves every tabletop task from privileged state.

    ``act(obs)`` returns a float32 (4,) action in [-1, 1] (dx, dy, dz, gripper)
    for the wrapped :class:`~sim_envs.tabletop.TabletopEnv`; call ``reset()``
    after every ``env.reset``.  Push: approach behind the object at ``SAFE_Z``,
    descend, push along the task direction while steering onto the object's
    centre line.  Lift / place: approach above, descend open, close, lift,
    (carry over the pad, lower, open).

    Args:
        env: the tabletop env (wrappers are fine; ``env.unwrapped`` is used).
        noise_std: std of Gaussian noise added to dx, dy, dz (demo diversity).
        seed: seed for that noise.
    """

    def __init__(self, env: gym.Env, *, noise_std: float = 0.0, seed: int | None = None) -> None:
        self.env = env.unwrapped
        self.task = self.env.task
        self.noise_std = float(noise_std)
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Start a new episode (re-reads the task; call after ``env.reset``)."""
        self.task = self.env.task
        self.phase = 0
        self._phase_steps = 0
        self._carry_offset = np.zeros(3)  # grip point - object centre while carrying

    # --------------------------------------------------------------- policy
    def act(self, obs: dict | None = None) -> np.ndarray:
        """Next action, float32 (4,).  ``obs`` is unused (privileged state is read)."""
        ee = self.env.gripper_position()
        obj = self.env.object_positions()[self.task.obj]
        kind = self.task.kind
        if kind == "push":
            action = self._push(ee, obj)
        else:
            action = self._pick(ee, obj, place=(kind == "place"))
        if self.noise_std > 0:
            action[:3] += self._rng.normal(0.0, self.noise_std, size=3)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    # --------------------------------------------------------------- phases
    def _advance(self, done: bool) -> None:
        self._phase_steps += 1
        if done or self._phase_steps >= self._steps_for(PHASE_TIMEOUT_S):
            self.phase += 1
            self._phase_steps = 0

    def _steps_for(self, seconds: float) -> int:
        return max(1, int(np.ceil(seconds * self.env.control_hz)))

    def _move(self, ee: np.ndarray, target: np.ndarray, grip: float, speed: float = SPEED) -> np.ndarray:
        """Action towards ``target``; the largest axis moves at most ``speed`` of max_step."""
        delta = (target - ee) / self.env.max_step
        peak = np.abs(delta).max()
        if peak > speed:
            delta *= speed / peak  # keep the direction, cap the speed
        return np.append(delta, grip)

    def _push(self, ee: np.ndarray, obj: np.ndarray) -> np.ndarray:
        d = np.array(self.task.direction)
        perp = np.array([-d[1], d[0]])
        half = np.array(OBJECT_HALF_SIZES[self.task.obj][:2])
        # Conservative extent along d of the (slightly yawed) object footprint.
        behind = float(np.linalg.norm(half)) + float(np.abs(d) @ FINGER_HALF) + PUSH_CLEARANCE
        start_xy = obj[:2] - d * behind
        if self.phase == 0:  # over the start point, fingers closed into a paddle
            target = np.append(start_xy, SAFE_Z)
            a = self._move(ee, target, CLOSED)
            self._advance(np.linalg.norm(target - ee) < 2 * TOL)
            return a
        if self.phase == 1:  # descend beside the object
            target = np.append(start_xy, PUSH_Z)
            a = self._move(ee, target, CLOSED)
            self._advance(np.linalg.norm(target - ee) < TOL)
            return a
        moved = float((obj[:2] - self.env.object_initial_positions()[self.task.obj][:2]) @ d)
        if self.phase == 2 and moved < PUSH_GOAL:
            # Push along d; steer the paddle onto the object's centre line so
            # the object does not rotate away sideways.
            lateral = float((obj[:2] - ee[:2]) @ perp)
            step = d * PUSH_SPEED + perp * np.clip(lateral / self.env.max_step, -0.5, 0.5)
            dz = np.clip((PUSH_Z - ee[2]) / self.env.max_step, -1, 1)
            self._phase_steps += 1
            return np.array([step[0], step[1], dz, CLOSED])
        self.phase = 3  # retreat upwards
        return self._move(ee, np.append(ee[:2], SAFE_Z), CLOSED)

    def _pick(self, ee: np.ndarray, obj: np.ndarray, place: bool) -> np.ndarray:
        p = self.phase
        if p == 0:  # above the object, open
            target = np.append(obj[:2], SAFE_Z)
            a = self._move(ee, target, OPEN)
            self._advance(np.linalg.norm(target - ee) < 2 * TOL)
            return a
        if p == 1:  # descend around it (keep tracking its xy)
            target = np.append(obj[:2], GRASP_Z)
            a = self._move(ee, target, OPEN)
            self._advance(np.linalg.norm(target - ee) < TOL)
            return a
        if p == 2:  # close
            self._advance(self._phase_steps + 1 >= self._steps_for(CLOSE_S))
            if self.phase == 3:
                self._carry_offset = ee - obj
            return np.array([0.0, 0.0, 0.0, CLOSED])
        if not place:  # lift task: straight up
            return self._move(ee, np.append(ee[:2], LIFT_Z), CLOSED)
        pad = self.env.pad_position()
        # Place so the object's centre (not the grip point) lands on the pad.
        over_pad = pad + self._carry_offset[:2]
        if p == 3:  # lift clear of the other objects
            target = np.append(ee[:2], SAFE_Z)
            a = self._move(ee, target, CLOSED)
            self._advance(abs(SAFE_Z - ee[2]) < 2 * TOL)
            return a
        if p == 4:  # carry over the pad
            target = np.append(over_pad, SAFE_Z)
            a = self._move(ee, target, CLOSED)
            self._advance(np.linalg.norm(target - ee) < TOL)
            return a
        if p == 5:  # lower until the object almost touches the table
            rest = OBJECT_HALF_SIZES[self.task.obj][2]
            target = np.append(over_pad, ee[2] - (obj[2] - rest) + PLACE_DROP)
            a = self._move(ee, target, CLOSED, speed=0.6)
            self._advance(np.linalg.norm(target - ee) < TOL)
            return a
        if p == 6:  # release
            self._advance(self._phase_steps + 1 >= self._steps_for(OPEN_S))
            return np.array([0.0, 0.0, 0.0, OPEN])
        return self._move(ee, np.append(ee[:2], SAFE_Z), OPEN)  # back off upwards


def run_expert_episode(env: gym.Env, seed: int, expert: ScriptedExpert | None = None) -> tuple[bool, int]:
    """Roll the scripted expert for one seeded episode: (is_success, n_steps)."""
    expert = expert or ScriptedExpert(env)
    obs, info = env.reset(seed=seed)
    expert.reset()
    steps = 0
    while True:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        steps += 1
        if terminated or truncated:
            return bool(info["is_success"]), steps

"""What ``get_model`` returns: a checkpoint behind :mod:`motionvla.inference`, fitted to RoboTwin's embodiment.

It takes the env-side observations of ``deploy_policy.encode_obs`` (RoboTwin camera names), renames the
cameras to the checkpoint's (``camera_map``), resizes images to the size the checkpoint was trained on,
checks once that the checkpoint fits (state / action size, cameras; the message names both sides) and
returns action chunks ``(n_action_steps, 14)`` float32 in the dataset's joint units.

Its methods are reachable by name through :meth:`RoboTwinPolicyModel.call`, the same call RoboTwin's
``ModelClient`` makes over its socket, so ``deploy_policy.eval`` is the same in-process and served.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from motionvla.errors import UserError
from motionvla.inference import CheckpointPolicy, Policy, check_fits, parse_rename_map, renamed_features
from sim_envs.adapters import EnvFeatures
from motionvla.keys import IMAGE_KEY_PREFIX, STATE_KEY, TASK_KEY

ENV_NAME = "RoboTwin"
#: RoboTwin camera -> the camera names of lerobot's aloha-style bimanual datasets (lerobot/robotwin_unified,
#: the LeRobot export of XPolicyLab's converter, RoboTwin's pi0 converter).
DEFAULT_CAMERA_MAP = {"head_camera": "cam_high", "left_camera": "cam_left_wrist", "right_camera": "cam_right_wrist"}
#: Methods a client may call by name (``ModelClient.call(func_name=...)``); nothing else is reachable.
CALLABLE = ("get_action", "reset_model")
# Episode seeds advance by this per RoboTwin `seed`, as RoboTwin's own test seeds do (100000 * (1 + seed)).
SEED_STRIDE = 100_000


def _as_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "none", "null", ""):
        return False
    raise UserError(f"{key}={value!r}: expected true or false")


def _as_int(value: Any, key: str) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError as exc:
        raise UserError(f"{key}={value!r}: expected an integer") from exc


def parse_camera_map(value: Any) -> dict[str, str]:
    """``camera_map`` as ``{robotwin camera: checkpoint camera}``.

    Accepts a mapping (deploy_policy.yml), or the text a command line gives: a dict literal / JSON
    (``"{'head_camera': 'cam_high'}"``) or ``head_camera=cam_high,left_camera=cam_left_wrist``. Either side
    may carry the ``observation.images.`` prefix.
    """
    if value is None or value == "":
        return dict(DEFAULT_CAMERA_MAP)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError) as exc:
                raise UserError(f"camera_map={text!r}: not a valid mapping ({exc})") from exc
        else:
            value = parse_rename_map(text)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise UserError(f"camera_map={value!r}: expected RoboTwin camera -> checkpoint camera, e.g. head_camera: cam_high")
    return {k.removeprefix(IMAGE_KEY_PREFIX): v.removeprefix(IMAGE_KEY_PREFIX) for k, v in value.items()}


@dataclass
class RoboTwinSettings:
    """The plug-in's keys of deploy_policy.yml (RoboTwin's own keys, e.g. ``task_name``, pass through).

    ``checkpoint``: a checkpoint folder or training-run folder; ``device``: auto / cpu / cuda[:i];
    ``n_action_steps``: actions executed per chunk (0: the checkpoint's own); ``camera_map``: RoboTwin
    camera -> checkpoint camera; ``resize_images``: resize to the checkpoint's training size; ``seed``:
    RoboTwin's seed, also used to seed the policy's sampling.
    """

    checkpoint: str
    device: str = "auto"
    n_action_steps: int = 0
    camera_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CAMERA_MAP))
    resize_images: bool = True
    seed: int = 0

    @classmethod
    def from_usr_args(cls, usr_args: dict[str, Any], default_camera_map: dict[str, str] | None = None) -> RoboTwinSettings:
        """Read and check the keys; values may be typed (yml) or text (command-line overrides)."""
        checkpoint = usr_args.get("checkpoint")
        if not checkpoint or not isinstance(checkpoint, (str, Path)):
            raise UserError(
                "deploy_policy.yml: `checkpoint` is not set (got "
                f"{checkpoint!r}); give a checkpoint or run folder, e.g. `--checkpoint /path/to/run` after --overrides"
            )
        camera_map = usr_args.get("camera_map")
        return cls(
            checkpoint=str(Path(str(checkpoint)).expanduser()),
            device=str(usr_args.get("device") or "auto"),
            n_action_steps=_as_int(usr_args.get("n_action_steps"), "n_action_steps"),
            camera_map=parse_camera_map(camera_map) if camera_map else dict(default_camera_map or DEFAULT_CAMERA_MAP),
            resize_images=_as_bool(usr_args.get("resize_images", True), "resize_images"),
            seed=_as_int(usr_args.get("seed"), "seed"),
        )

    @property
    def rename_map(self) -> dict[str, str]:
        """``camera_map`` as motionvla.inference's rename map: env observation key -> policy key."""
        return {IMAGE_KEY_PREFIX + k: IMAGE_KEY_PREFIX + v for k, v in self.camera_map.items()}


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    # area averaging when shrinking (no aliasing), bilinear when enlarging
    shrink = height < image.shape[0] or width < image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class RoboTwinPolicyModel:
    """A :class:`~motionvla.inference.Policy` driven by RoboTwin observations.

    ``calls`` counts policy calls (chunks), ``episode`` the episodes begun, ``last_timing`` the latest
    ``policy_timing``.
    """

    def __init__(self, policy: Policy, settings: RoboTwinSettings) -> None:
        self.policy, self.settings = policy, settings
        self.rename = settings.rename_map
        self.calls, self.episode = 0, -1
        self.last_timing: dict[str, Any] = {}
        self._checked = False

    @classmethod
    def from_usr_args(cls, usr_args: dict[str, Any], default_camera_map: dict[str, str] | None = None) -> RoboTwinPolicyModel:
        """Load ``usr_args["checkpoint"]``; checks the action size against the embodiment when
        ``left_arm_dim`` / ``right_arm_dim`` are given (RoboTwin's eval_policy.py adds them)."""
        settings = RoboTwinSettings.from_usr_args(usr_args, default_camera_map)
        if not Path(settings.checkpoint).is_dir():
            raise UserError(f"checkpoint={settings.checkpoint}: no such folder (set `checkpoint` in the deploy yml or "
                            f"pass --checkpoint; relative paths start at {Path.cwd()})")
        policy = CheckpointPolicy(settings.checkpoint, device=settings.device, n_action_steps=settings.n_action_steps)
        model = cls(policy, settings)
        left, right = usr_args.get("left_arm_dim"), usr_args.get("right_arm_dim")
        if left is not None and right is not None:
            model.check_joint_dim(int(left) + int(right) + 2)  # + the two grippers
        return model

    # ------------------------------------------------------------------ checks
    def check_joint_dim(self, joint_dim: int) -> None:
        """Refuse a checkpoint whose state or action size is not the embodiment's ``joint_dim``."""
        dims_only = replace(self.policy.metadata, cameras={})  # cameras are checked on the first observation
        check_fits(dims_only, EnvFeatures(cameras={}, state_dim=joint_dim, action_dim=joint_dim, fps=0.0), ENV_NAME)

    def features_of(self, obs: dict[str, Any]) -> EnvFeatures:
        """What an env-side observation (``encode_obs``) offers; in qpos mode actions have the state's size.

        ``fps`` is 0: RoboTwin executes each joint target with its own planner, there is no fixed rate.
        """
        cameras = {k.removeprefix(IMAGE_KEY_PREFIX): tuple(np.shape(v)) for k, v in obs.items() if k.startswith(IMAGE_KEY_PREFIX)}
        dim = int(np.size(obs[STATE_KEY]))
        return EnvFeatures(cameras=cameras, state_dim=dim, action_dim=dim, fps=0.0)

    def check_observation(self, obs: dict[str, Any]) -> None:
        """:func:`motionvla.inference.check_fits` on the features of ``obs`` after ``camera_map``."""
        try:
            check_fits(self.policy.metadata, renamed_features(self.features_of(obs), self.rename), ENV_NAME)
        except UserError as exc:
            raise UserError(f"{exc}; for RoboTwin, map cameras with camera_map in deploy_policy.yml (now {self.settings.camera_map})") from exc

    # ------------------------------------------------------------------ inference
    def policy_observation(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Env-side observation -> the checkpoint's: renamed cameras (only those it uses, when it declares
        them), images resized to its training size, state float32 ``(S,)``, the instruction."""
        wanted = self.policy.metadata.cameras
        out: dict[str, Any] = {}
        for key, image in obs.items():
            if not key.startswith(IMAGE_KEY_PREFIX):
                continue
            key = self.rename.get(key, key)
            if wanted and key not in wanted:
                continue
            image = np.asarray(image, dtype=np.uint8)
            if self.settings.resize_images and key in wanted and tuple(wanted[key][:2]) != image.shape[:2]:
                image = _resize(image, *wanted[key][:2])
            out[key] = image
        out[STATE_KEY] = np.asarray(obs[STATE_KEY], dtype=np.float32).reshape(-1)
        out[TASK_KEY] = str(obs.get(TASK_KEY) or "")
        return out

    def get_action(self, obs: dict[str, Any]) -> np.ndarray:
        """Actions ``(n_action_steps, A)`` float32 for one env-side observation (``encode_obs``)."""
        if not self._checked:
            self.check_observation(obs)
            self._checked = True
        result = self.policy.infer(self.policy_observation(obs))
        actions = np.asarray(result["actions"], dtype=np.float32)
        if actions.ndim != 2 or not np.isfinite(actions).all():
            raise RuntimeError(f"policy {self.settings.checkpoint} returned actions of shape {actions.shape} "
                               f"(finite: {bool(np.isfinite(actions).all())}); expected finite (n_action_steps, A)")
        self.calls += 1
        self.last_timing = dict(result.get("policy_timing", {}))
        return actions

    def reset_model(self) -> None:
        """A new episode: the policy's state cleared, its sampling seeded with ``seed * 100000 + episode``."""
        self.episode += 1
        self.policy.reset(seed=self.settings.seed * SEED_STRIDE + self.episode)

    def call(self, func_name: str | None = None, obs: Any = None) -> Any:
        """``func_name(obs)`` (or ``func_name()`` when ``obs`` is None): RoboTwin's ``ModelClient.call``."""
        if func_name not in CALLABLE:
            raise AttributeError(f"no model method {func_name!r}; callable: {', '.join(CALLABLE)}")
        method = getattr(self, func_name)
        return method() if obs is None else method(obs)

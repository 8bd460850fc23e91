"""The LIBERO evaluation protocol as the published results use it: every number in one place, with its source.

Sources (read, not copied):

* [openpi] Physical-Intelligence/openpi, ``examples/libero/main.py`` (π0 / π0-FAST / π0.5 LIBERO numbers).
* [oft] moojink/openvla-oft, ``experiments/robot/libero/run_libero_eval.py`` and ``libero_utils.py``
  (OpenVLA-OFT's numbers).
* [libero] Lifelong-Robot-Learning/LIBERO (Liu et al., NeurIPS 2023 D&B): ``libero/libero/benchmark``
  (suites, their task counts, one ``.pruned_init`` file of fixed initial states per task) and
  ``libero/libero/envs`` (``done`` = the task's BDDL goal predicate, control at 20 Hz).
* [lerobot] lerobot 0.6.1, ``lerobot/envs/libero.py`` (``LiberoEnv``), which we wrap; where it differs
  from [openpi]/[oft] we follow them (see :data:`LEROBOT_DEVIATIONS`).
"""

from __future__ import annotations

#: Suites and how many tasks each has [libero]: ``benchmark.get_benchmark_dict()[suite]().n_tasks``.
SUITE_NUM_TASKS: dict[str, int] = {
    "libero_spatial": 10,
    "libero_object": 10,
    "libero_goal": 10,
    "libero_10": 10,
    "libero_90": 90,
}
SUITES: tuple[str, ...] = tuple(SUITE_NUM_TASKS)

#: Policy steps per episode, settle steps not counted [openpi] ``max_steps`` per suite, [oft]
#: ``TASK_MAX_STEPS``: a little above each suite's longest training demo (193 / 254 / 270 / 505 / 373
#: steps). lerobot 0.6.1 uses 280 for libero_spatial; the published numbers use 220.
SUITE_MAX_STEPS: dict[str, int] = {
    "libero_spatial": 220,
    "libero_object": 280,
    "libero_goal": 300,
    "libero_10": 520,
    "libero_90": 400,
}

#: No-op steps run after setting the initial state, before the policy acts, "because the simulator drops
#: objects and we need to wait for them to fall" [openpi] ``num_steps_wait = 10``, [oft] the same.
SETTLE_STEPS = 10
#: The settle action: zero arm delta, gripper open (-1) [openpi] ``LIBERO_DUMMY_ACTION``, [oft]
#: ``get_libero_dummy_action``.
SETTLE_ACTION: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0)

#: Fixed initial states per task [libero] (``get_task_init_states``: array (50, D)); trial ``i`` of a task
#: starts from state ``i`` [openpi] ``initial_states[episode_idx]``, [oft] the same; we cycle (``i % 50``).
NUM_INIT_STATES = 50
#: Trials per task [openpi] ``num_trials_per_task = 50``, [oft] the same: one per initial state.
TRIALS_PER_TASK = 50

#: Render size of both cameras [openpi] ``LIBERO_ENV_RESOLUTION = 256`` ("resolution used to render
#: training data"), [oft] ``env_img_res = 256``. Policies resize it themselves (224 for π0).
IMAGE_SIZE = 256
#: LIBERO's raw camera images are upside down; both are turned 180° (``img[::-1, ::-1]``) "to match train
#: preprocessing" [openpi], [oft] ``get_libero_image`` / ``get_libero_wrist_image``.
FLIP_IMAGES = True

#: Raw camera -> policy camera name, as in the ``lerobot/libero`` hub dataset (two 256² cameras).
CAMERAS: dict[str, str] = {"agentview_image": "image", "robot0_eye_in_hand_image": "wrist_image"}
#: Robot state [openpi] / [oft] ``observation/state``: eef position (3, m), axis-angle of the eef quaternion
#: (3, rad), gripper finger qpos (2, m).
STATE_NAMES: tuple[str, ...] = ("eef_x", "eef_y", "eef_z", "eef_ax", "eef_ay", "eef_az", "gripper_q0", "gripper_q1")
#: OSC_POSE delta action in [-1, 1]: position (3), rotation (3), gripper (-1 open, +1 close) [libero].
ACTION_NAMES: tuple[str, ...] = ("dx", "dy", "dz", "drx", "dry", "drz", "gripper")
ACTION_LOW, ACTION_HIGH = -1.0, 1.0
#: Control rate [libero] (robosuite ``control_freq=20``, what the demos were recorded at).
CONTROL_HZ = 20.0

#: Seed of the env's global numpy RNG [openpi] ``seed = 7`` ("seed seems to affect object positions even
#: when using fixed initial state"); used when the caller gives none.
DEFAULT_SEED = 7
#: OpenVLA's LIBERO script [oft]: ``set_seed_everywhere(7)`` for the process, then ``env.seed(0)`` for the env.
OPENVLA_ENV_SEED = 0
#: How ``motionvla eval`` seeds the env of trial ``i`` (``--seed_protocol``): "openpi" (default) the env seed 7
#: of openpi's example, "openvla" OpenVLA's env seed 0, "per_episode" ``--seed + i`` (one seed per trial).
#: The reference scripts seed once per task and let one env's RNG run on across its 50 trials; our trials run
#: in any order on any worker, so each trial's env is reset with that seed instead (a trial's result then does
#: not depend on which trials its worker ran before it).
SEED_PROTOCOLS: tuple[str, ...] = ("openpi", "openvla", "per_episode")

#: Success is the env's ``done`` (the task's goal predicate) [openpi] ``if done: success``, [oft] the same.
SUCCESS_FROM = "done"

#: Where lerobot 0.6.1's ``LiberoEnv`` differs from the above, and what we do about it.
LEROBOT_DEVIATIONS: dict[str, str] = {
    "max_steps": "libero_spatial 280 in lerobot vs 220 here: we pass episode_length=SUITE_MAX_STEPS[suite]",
    "init_state": "lerobot advances init_state_id by n_envs on every reset, so the state a trial gets depends "
    "on how many resets its env has seen; here the adapter sets state episode_index % 50 on every reset",
    "init_state_loading": "lerobot unpickles .pruned_init with torch.load(weights_only=False); we read the "
    ".npz copies made by `make libero` (or torch.load(weights_only=True) with numpy's array rebuilders only)",
    "flip": "lerobot leaves images upside down for its processor to turn; our adapter turns them itself",
    "seeding": "openpi and OpenVLA seed one env once per task and run its 50 trials in a row; we reset each "
    "trial's env with the protocol's seed (SEED_PROTOCOLS), so trials can run in parallel and in shards",
}


def check_suite(suite: str) -> int:
    """Number of tasks of ``suite``; ValueError naming the suites when it is unknown."""
    if suite not in SUITE_NUM_TASKS:
        raise ValueError(f"unknown LIBERO suite {suite!r}; accepted: {', '.join(SUITES)}")
    return SUITE_NUM_TASKS[suite]


def check_task(suite: str, task_id: int | str) -> int:
    """``task_id`` as an int after checking it against ``suite``; ValueError naming the valid ids otherwise."""
    n = check_suite(suite)
    try:
        tid = int(task_id)
    except (TypeError, ValueError):
        tid = -1
    if not 0 <= tid < n or str(task_id).strip() != str(tid):
        raise ValueError(f"unknown task id {task_id!r} for LIBERO suite {suite}; accepted: 0..{n - 1}")
    return tid


def init_state_id(episode_index: int, num_states: int = NUM_INIT_STATES) -> int:
    """The fixed initial state trial ``episode_index`` starts from (``episode_index % num_states``)."""
    if episode_index < 0:
        raise ValueError(f"episode_index must be >= 0, got {episode_index}")
    return episode_index % num_states

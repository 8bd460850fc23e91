"""Task definitions: distinct instructions, shared scene with every object present."""

from __future__ import annotations

import numpy as np
import pytest

from sim_envs.tabletop import OBJECTS, TASKS
from sim_envs.tabletop.scene import EE_BOUNDS, MIN_SEPARATION, sample_layout


def test_at_least_four_tasks_with_distinct_instructions():
    assert len(TASKS) >= 4
    instructions = [t.instruction for t in TASKS.values()]
    assert len(set(instructions)) == len(instructions)
    kinds = {t.kind for t in TASKS.values()}
    assert kinds == {"push", "lift", "place"}
    for t in TASKS.values():
        assert t.max_episode_steps > 0 and t.obj in OBJECTS


@pytest.mark.parametrize("task", list(TASKS))
def test_all_objects_present_on_table(make_env, task):
    env = make_env(task)
    for seed in range(3):
        env.reset(seed=seed)
        pos = env.unwrapped.object_positions()
        assert set(pos) == {"red_block", "blue_block", "green_cube"}
        pad = env.unwrapped.pad_position()
        xy = [p[:2] for p in pos.values()] + [pad]
        for p in pos.values():
            assert p[2] == pytest.approx(0.02, abs=1e-3)  # resting on the table
        for i in range(len(xy)):
            for j in range(i + 1, len(xy)):
                assert np.linalg.norm(xy[i] - xy[j]) >= MIN_SEPARATION - 1e-9
        assert not env.unwrapped.is_success()


def test_layout_reachable():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lay = sample_layout(rng)
        for x, y, _yaw in lay.objects.values():
            # leave room for a 12 cm push in any direction inside the workspace
            assert EE_BOUNDS[0, 0] + 0.12 < x < EE_BOUNDS[0, 1] - 0.12
            assert EE_BOUNDS[1, 0] + 0.12 < y < EE_BOUNDS[1, 1] - 0.12

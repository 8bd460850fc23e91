"""2-process gloo training: DDP with an expert-parallel (ep / llep) MoE backbone gives the losses of a local one."""

import pytest

from motionvla.train.parallel_check import train_losses_on_rank
from motionvla.utils.local_ranks import run_local_ranks

pytestmark = pytest.mark.multiprocess


@pytest.fixture(scope="module")
def local_losses(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    results = run_local_ranks(train_losses_on_rank, 2, "local", str(out), timeout=150)
    return results[0]["losses"]


@pytest.mark.parametrize("dispatcher", ["llep"])
def test_two_process_training_matches_local(dispatcher, local_losses, tmp_path):
    results = run_local_ranks(train_losses_on_rank, 2, dispatcher, str(tmp_path), timeout=150)
    losses = results[0]["losses"]
    assert len(losses) == len(local_losses) == 3
    # Step 1 checks the forward; steps 2-3 check gradients, their DDP/expert bookkeeping and the optimizer.
    assert losses == pytest.approx(local_losses, abs=1e-5, rel=1e-5)
    assert losses[-1] != losses[0]  # the weights did move
    if dispatcher == "llep":
        # imbalance_threshold=1 and min_tokens=8: the planner really lends experts across ranks.
        assert sum(r["transfers"][0] for r in results) > 0

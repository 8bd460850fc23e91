import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torchvision.models.optical_flow import raft_small

from motionvla.errors import UserError
from motionvla.flow import FlowEstimator, estimate_flow


@pytest.fixture(scope="module")
def raft_small_files(tmp_path_factory):
    """A randomly initialised raft_small saved as .safetensors and as a wrapped .pth checkpoint."""
    torch.manual_seed(0)
    state = raft_small(weights=None, progress=False).state_dict()
    folder = tmp_path_factory.mktemp("raft")
    save_file(state, folder / "raft_small.safetensors")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, folder / "raft_small.pth")
    return folder / "raft_small.safetensors", folder / "raft_small.pth"


def frames(t: int, h: int = 60, w: int = 76) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_raft_from_local_safetensors_on_non_multiple_of_8(raft_small_files):
    est = FlowEstimator("raft", raft_weights=raft_small_files[0], raft_variant="small")
    f = frames(2)
    flow = est(f[0], f[1])
    assert flow.shape == (2, 60, 76) and flow.dtype == np.float32
    assert np.isfinite(flow).all()


def test_raft_pth_checkpoint_gives_the_same_flow(raft_small_files):
    f = frames(2)
    a = estimate_flow(f[0], f[1], "raft", raft_weights=raft_small_files[0], raft_variant="small")
    b = estimate_flow(f[0], f[1], "raft", raft_weights=raft_small_files[1], raft_variant="small")
    np.testing.assert_array_equal(a, b)


def test_raft_sequence_is_batched_and_matches_pairs(raft_small_files):
    est = FlowEstimator("raft", raft_weights=raft_small_files[0], raft_variant="small", raft_batch_size=2)
    f = frames(4)
    seq = est.estimate_sequence(f)
    assert seq.shape == (3, 2, 60, 76) and seq.dtype == np.float32
    np.testing.assert_allclose(seq[2], est(f[2], f[3]), atol=1e-3)


def test_raft_without_weights_is_a_one_line_error():
    f = frames(2)
    with pytest.raises(ValueError, match="cannot be downloaded") as info:
        estimate_flow(f[0], f[1], "raft")
    assert "\n" not in str(info.value) and isinstance(info.value, UserError)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(raft_variant="large"), "not a raft_large state dict"),
        (dict(raft_variant="tiny"), "raft_variant must be one of"),
        (dict(raft_weights="missing.safetensors"), "not found"),
        (dict(raft_weights="weights.bin"), r"\.safetensors/\.pth/\.pt"),
    ],
)
def test_raft_bad_weights(raft_small_files, tmp_path, kwargs, match):
    kwargs = {"raft_weights": raft_small_files[0], **kwargs}
    if kwargs["raft_weights"] == "missing.safetensors":
        kwargs["raft_weights"] = tmp_path / "missing.safetensors"
    with pytest.raises(ValueError, match=match):
        FlowEstimator("raft", **kwargs)

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torchvision.models.optical_flow import raft_small

from motionvla.errors import UserError
from motionvla.flow import FlowEstimator, estimate_flow
from motionvla.flow.raft import load_raft, raft_flow


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


def test_raft_pth_checkpoint_loads_the_same_weights(raft_small_files):
    # The .pth holds the same tensors wrapped as {"state_dict": {"module." + key: ...}} (a DDP checkpoint).
    a = load_raft(raft_small_files[0], "small").state_dict()
    b = load_raft(raft_small_files[1], "small").state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_raft_sequence_is_batched_and_matches_pairs(raft_small_files):
    est = FlowEstimator(
        "raft", raft_weights=raft_small_files[0], raft_variant="small", raft_batch_size=2, num_flow_updates=2
    )
    f = frames(3)
    seq = est.estimate_sequence(f)  # one batch of the 2 pairs
    assert seq.shape == (2, 2, 60, 76) and seq.dtype == np.float32
    np.testing.assert_allclose(seq[1], est(f[1], f[2]), rtol=1e-4, atol=1e-3)


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


class EchoRaft(torch.nn.Module):
    """Stands in for RAFT: its 'flow' is the first two channels of image1, or a constant."""

    def __init__(self, constant=None):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # raft_flow reads the device from a parameter
        self.constant = constant

    def forward(self, image1, image2, num_flow_updates=12):
        assert image1.shape[-2] % 8 == 0 and image1.shape[-1] % 8 == 0 and min(image1.shape[-2:]) >= 128
        if self.constant is None:
            return [image1[:, :2].clone()]
        flow = torch.empty_like(image1[:, :2])
        flow[:, 0], flow[:, 1] = self.constant
        return [flow]


def test_padding_is_cropped_back_in_place():
    # 130 x 141 is padded to 136 x 144; the crop must return exactly the original pixels.
    rng = np.random.default_rng(1)
    f = rng.integers(0, 256, (2, 130, 141, 3), dtype=np.uint8)
    out = raft_flow(EchoRaft(), f, f)
    np.testing.assert_allclose(out, f[..., :2].transpose(0, 3, 1, 2) / 127.5 - 1.0, atol=1e-6)


def test_small_frames_are_upsampled_and_the_flow_rescaled():
    # 60 x 76 is upsampled by 128/60 to 128 x 162: a flow of (4, 4) there is (4*76/162, 4*60/128) here.
    f = frames(2)
    out = raft_flow(EchoRaft(constant=(4.0, 4.0)), f[:1], f[1:])
    assert out.shape == (1, 2, 60, 76)
    np.testing.assert_allclose(out[0, 0], 4.0 * 76 / 162, rtol=1e-5)
    np.testing.assert_allclose(out[0, 1], 4.0 * 60 / 128, rtol=1e-5)

import cv2
import numpy as np
import pytest

from motionvla.errors import UserError
from motionvla.flow import METHODS, FlowEstimator, end_point_error, estimate_flow

BORDER = 16  # cropped after np.roll so the wrapped seam is outside the frames
MARGIN = 10  # pixels next to the frame edge see content enter/leave; score the interior only


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random RGB texture (blurred noise, sigma 1.5 px), uint8 (h, w, 3)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(size=(h, w, 3)).astype(np.float32), (0, 0), 1.5)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return np.rint(noise * 255).astype(np.uint8)


def shifted_pair(dx: float, dy: float, h: int = 96, w: int = 128, seed: int = 0):
    """frame1 is frame0 moved by (dx, dy): the true flow is (dx, dy) everywhere."""
    big = textured(h + 2 * BORDER, w + 2 * BORDER, seed)
    if float(dx).is_integer() and float(dy).is_integer():
        moved = np.roll(big, (int(dy), int(dx)), axis=(0, 1))
    else:  # sub-pixel: bilinear resampling of the same texture
        moved = cv2.warpAffine(big, np.float32([[1, 0, dx], [0, 1, dy]]), big.shape[1::-1], flags=cv2.INTER_LINEAR)
    crop = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    return big[crop], moved[crop]


def interior_epe(flow: np.ndarray, dx: float, dy: float) -> float:
    truth = np.empty_like(flow)
    truth[0], truth[1] = dx, dy
    inner = np.zeros(flow.shape[1:], bool)
    inner[MARGIN:-MARGIN, MARGIN:-MARGIN] = True
    return end_point_error(flow, truth, inner)


@pytest.mark.parametrize("method", ["dis", "farneback"])
@pytest.mark.parametrize("shift", [(3, -2), (1, 1), (-5, 4), (2.5, -1.25)])
def test_recovers_a_known_shift(method, shift):
    f0, f1 = shifted_pair(*shift)
    flow = estimate_flow(f0, f1, method)
    assert flow.shape == (2, 96, 128) and flow.dtype == np.float32
    # Measured: DIS <= ~0.02 px, Farneback <= ~0.01 px on these pairs.
    assert interior_epe(flow, *shift) < 0.5


@pytest.mark.parametrize("preset", ["ultrafast", "fast", "medium"])
def test_dis_presets_and_params(preset):
    f0, f1 = shifted_pair(3, -2)
    est = FlowEstimator("dis", dis_preset=preset, dis_params={"FinestScale": 1} if preset == "fast" else None)
    assert interior_epe(est(f0, f1), 3, -2) < 0.5


def test_farneback_params_override():
    f0, f1 = shifted_pair(2, 1)
    flow = estimate_flow(f0, f1, "farneback", farneback_params={"levels": 4, "winsize": 21})
    assert interior_epe(flow, 2, 1) < 0.5


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_estimate_sequence_matches_pairwise(method):
    big = textured(96 + 2 * BORDER, 128 + 2 * BORDER, seed=1)
    shifts = [(0, 0), (2, 1), (4, 2), (5, 0)]  # cumulative positions
    frames = np.stack([np.roll(big, (dy, dx), axis=(0, 1))[BORDER:-BORDER, BORDER:-BORDER] for dx, dy in shifts])
    est = FlowEstimator(method)
    seq = est.estimate_sequence(frames)
    assert seq.shape == (3, 2, 96, 128) and seq.dtype == np.float32
    for t in range(3):
        np.testing.assert_array_equal(seq[t], est(frames[t], frames[t + 1]))
        dx, dy = np.subtract(shifts[t + 1], shifts[t])
        assert interior_epe(seq[t], dx, dy) < 0.5
    # A list of frames works too.
    np.testing.assert_array_equal(est.estimate_sequence(list(frames)), seq)


def test_unknown_method_names_the_accepted_ones():
    f0, f1 = shifted_pair(1, 0)
    with pytest.raises(ValueError, match="accepted methods: dis, farneback, raft"):
        estimate_flow(f0, f1, "lucas-kanade")
    assert METHODS == ("dis", "farneback", "raft")


@pytest.mark.parametrize(
    "frame0, frame1, match",
    [
        (np.zeros((32, 32, 3), np.float32), np.zeros((32, 32, 3), np.float32), r"uint8 RGB \(H, W, 3\)"),
        (np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((3, 32, 32), np.uint8), np.zeros((3, 32, 32), np.uint8), r"\(H, W, 3\) \(RGB, channel-last\)"),
        (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 40, 3), np.uint8), "same shape"),
        ("frame.png", np.zeros((32, 32, 3), np.uint8), "numpy array"),
    ],
)
def test_bad_frames_say_what_was_expected(frame0, frame1, match):
    with pytest.raises(ValueError, match=match) as info:
        estimate_flow(frame0, frame1)
    assert isinstance(info.value, UserError)  # the CLI prints it as one line
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dis_preset="slow"), "dis_preset must be one of ultrafast, fast, medium"),
        (dict(dis_params={"Bogus": 1}), "no parameter 'Bogus'"),
    ],
)
def test_bad_dis_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlowEstimator("dis", **kwargs)


def test_bad_farneback_option_and_short_sequence():
    with pytest.raises(ValueError, match="unknown farneback_params"):
        FlowEstimator("farneback", farneback_params={"window": 3})
    with pytest.raises(ValueError, match="at least 2 frames"):
        FlowEstimator().estimate_sequence(np.zeros((1, 32, 32, 3), np.uint8))


def test_frames_too_small_for_dis_give_a_one_line_error():
    tiny = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=r"dis failed on frames of shape \(8, 8\).*>= 12") as info:
        estimate_flow(tiny, tiny, "dis")
    assert "\n" not in str(info.value)

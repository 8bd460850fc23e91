"""The forecaster: shapes, sampling, save/load, VAE codec, meta build, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motionvla.errors import UserError
from motionvla.flow_forecast.baselines import ForecastErrors, baseline_forecast
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.flow_forecast.modeling import FlowForecaster
from motionvla.flow_forecast.pipeline import FlowForecastPipeline
from motionvla.flow_forecast.presets import describe_preset, preset

TINY = dict(flow_max_magnitude=1.0, hidden_size=32, image_token_grid=4, resolution=16, image_size=32)


def batch(b: int = 3, size: int = 32) -> dict:
    g = torch.Generator().manual_seed(0)
    return {"frames": torch.randint(0, 255, (b, 2, 3, size, size), dtype=torch.uint8, generator=g),
            "flow": torch.randn(b, 4, 2, size, size, generator=g) * 0.4,
            "caption": ["the red circle moves to the left", "the blue square moves up", "the green triangle moves down"][:b]}


def model(**overrides) -> FlowForecaster:
    torch.manual_seed(0)
    return FlowForecaster(forecaster=ForecasterConfig(**{**TINY, **overrides}).to_dict())


def test_loss_and_forecast_shapes():
    m = model()
    loss, info = m(batch())
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss) and "motion_loss" in info
    assert all(p.grad is not None for p in m.dit.parameters() if p.requires_grad)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.encoder.parameters())  # tiny VLM trains
    flows, images = m.forecast(batch()["frames"], batch()["caption"], num_samples=2)
    assert flows.shape == (3, 2, 4, 2, 16, 16) and flows.dtype == torch.float32
    assert images.shape == (3, 2, 4, 3, 16, 16) and 0 <= images.min() and images.max() <= 1


def test_one_and_many_steps_and_seeds():
    m = model().eval()
    b = batch()
    one = m.forecast(b["frames"], b["caption"], generator=torch.Generator().manual_seed(1))[0]
    again = m.forecast(b["frames"], b["caption"], generator=torch.Generator().manual_seed(1))[0]
    four = m.forecast(b["frames"], b["caption"], num_inference_steps=4, generator=torch.Generator().manual_seed(1))[0]
    assert torch.equal(one, again) and not torch.allclose(one, four)


def test_save_and_load_give_identical_outputs(tmp_path):
    pipe = FlowForecastPipeline(model())
    images = [np.random.default_rng(n).integers(0, 255, (40, 48, 3), dtype=np.uint8) for n in range(2)]
    prompts = ["the red circle moves to the left", "the blue square moves up"]
    before = pipe(images, prompts, generator=torch.Generator().manual_seed(3))
    pipe.save_pretrained(tmp_path / "saved")
    loaded = FlowForecastPipeline.from_pretrained(tmp_path / "saved")
    after = loaded(images, prompts, generator=torch.Generator().manual_seed(3))
    assert before.flows.shape == (2, 1, 4, 2, 16, 16) and before.motion_images.dtype == np.uint8
    np.testing.assert_array_equal(before.flows, after.flows)
    tensor_input = loaded(torch.rand(2, 3, 24, 24), prompts, generator=torch.Generator().manual_seed(3))
    assert tensor_input.flows.shape == (2, 1, 4, 2, 16, 16)


def test_vae_codec_trains_a_step():
    m = model(codec="vae", vae_latent_channels=4, vae_block_channels=(8, 16), resolution=16, patch_size=1)
    assert m.codec.vae is not None and not any(p.requires_grad for p in m.codec.vae.parameters())
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3)
    loss, _ = m(batch())
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    flows, _ = m.forecast(batch()["frames"], batch()["caption"])
    assert flows.shape == (3, 1, 4, 2, 16, 16)


def test_fofpred_3b_builds_on_meta():
    counts = describe_preset("fofpred-3b")
    assert 3.0e9 < counts["vlm (frozen)"] < 4.5e9 and counts["dit"] > 1e9 and counts["trained"] == counts["dit"]


def test_describe_counts_every_part_including_grounding_maps():
    plain, grounded = describe_preset("tiny"), describe_preset("tiny", grounding_maps=8)
    assert "grounding maps" not in plain and grounded["grounding maps"] > 0
    for counts in (plain, grounded):
        parts = {k: v for k, v in counts.items() if k not in ("total", "trained")}
        assert sum(parts.values()) == counts["total"] == counts["trained"]  # tiny trains everything
    built = FlowForecaster(forecaster=preset("tiny", grounding_maps=8).to_dict())
    assert grounded["total"] == sum(p.numel() for p in built.parameters())


def test_baselines_and_error_accounting():
    v = torch.zeros(1, 2, 2, 8, 8)
    v[:, :, 0, 2:5, 2:5] = 1.0  # an object moving +1 px in x, seen in both past flows
    future = v[:, :1].expand(1, 3, 2, 8, 8)
    assert torch.equal(baseline_forecast("last", v, 3), future)
    assert baseline_forecast("zero", v, 3).abs().sum() == 0
    errors = ForecastErrors(moving_threshold_px=0.5)
    errors.add(baseline_forecast("zero", v, 3), future)
    s = errors.summary()
    assert s["epe_moving"] == pytest.approx(1.0) and s["epe"] == pytest.approx(9 / 64)


def test_bad_input_is_one_clear_error(tmp_path):
    pipe = FlowForecastPipeline(model())
    with pytest.raises(UserError, match="expected uint8 H x W x 3"):
        pipe([np.zeros((8, 8), np.uint8)], ["a prompt"])
    with pytest.raises(UserError, match="2 prompts for 1 images"):
        pipe([np.zeros((8, 8, 3), np.uint8)], ["a", "b"])
    with pytest.raises(UserError, match="non-empty list"):
        pipe([], [])
    with pytest.raises(UserError, match="no such forecaster folder"):
        FlowForecastPipeline.from_pretrained(tmp_path / "missing")
    pipe.save_pretrained(tmp_path / "saved")
    (tmp_path / "saved" / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(UserError, match="cannot load the forecaster"):
        FlowForecastPipeline.from_pretrained(tmp_path / "saved")
    (tmp_path / "saved" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(UserError, match="missing the weights"):
        FlowForecastPipeline.from_pretrained(tmp_path / "saved")
    with pytest.raises(UserError, match="model.codec must be one of"):
        ForecasterConfig(codec="jpeg")


def test_moving_pixel_weight_changes_the_loss_only_where_things_move():
    b = batch()
    plain, weighted = model(), model(moving_weight=10.0)
    weighted.load_state_dict(plain.state_dict())
    torch.manual_seed(5)
    l0, _ = plain(b)
    torch.manual_seed(5)
    l1, _ = weighted(b)
    assert not torch.isclose(l0, l1)
    still = {**b, "flow": torch.zeros_like(b["flow"])}
    torch.manual_seed(5)
    s0, _ = plain(still)
    torch.manual_seed(5)
    s1, _ = weighted(still)
    assert torch.isclose(s0, s1)  # nothing moves: every weight is 1


def test_swapped_captions_always_differ_from_the_samples_own():
    from motionvla.flow_forecast.evaluation import swap_captions

    captions = ["a", "a", "a", "b", "b", "c"]  # clips of one video share its caption
    swapped, kept = swap_captions(captions)
    assert kept == 0 and all(s != c for s, c in zip(swapped, captions))
    assert sorted(set(swapped)) == ["a", "b", "c"]
    assert swap_captions(["x", "x"]) == (["x", "x"], 2)  # nothing else to give: counted, not hidden


def test_a_batch_sharing_one_caption_takes_a_different_one_from_earlier_batches():
    from motionvla.flow_forecast.evaluation import _remember, swap_captions

    pool: list[str] = []
    _remember(pool, ["push red", "push red"])  # batch 1: one robot episode
    _remember(pool, ["lift blue"])  # batch 2
    assert swap_captions(["lift blue", "lift blue"], pool) == (["push red", "push red"], 0)
    assert swap_captions(["push red"], pool) == (["lift blue"], 0)
    assert swap_captions(["x"], []) == (["x"], 1)
    for i in range(100):
        _remember(pool, [f"task {i}"])
    assert len(pool) == 64 and pool[-1] == "task 99"


def test_evaluation_swaps_every_caption_of_episodes_batched_one_at_a_time():
    from motionvla.flow_forecast.evaluation import evaluate_forecaster

    m = model()
    g = torch.Generator().manual_seed(1)
    episodes = ["push red", "lift blue", "open drawer"]
    data = [{"frames": torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8, generator=g),
             "flow": torch.randn(4, 2, 32, 32, generator=g), "past_flow": torch.zeros(1, 2, 32, 32),
             "caption": caption} for caption in episodes for _ in range(2)]  # one episode per batch of 2
    calls: list[list[str]] = []
    forecast = m.forecast
    m.forecast = lambda frames, captions, **kw: (calls.append(list(captions)), forecast(frames, captions, **kw))[1]
    report = evaluate_forecaster(m, data, batch_size=2, progress=False)
    own, swapped = calls[0::2], calls[1::2]
    assert own == [[c, c] for c in episodes]
    assert swapped[0] == own[0]  # the first batch has nothing earlier to take: counted below, not hidden
    assert all(s != c for batch_own, batch_swapped in zip(own[1:], swapped[1:])
               for s, c in zip(batch_swapped, batch_own))
    assert report["settings"]["shuffled_captions_unchanged"] == 2


def test_a_kind_without_moving_pixels_reads_as_such_and_its_json_stays_standard(tmp_path):
    import json

    from motionvla.flow_forecast.evaluation import evaluate_forecaster, format_report
    from motionvla.utils.atomic import atomic_write_json

    g = torch.Generator().manual_seed(2)
    moving = torch.randn(4, 2, 32, 32, generator=g) * 3
    data = [{"frames": torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8, generator=g),
             "flow": flow, "past_flow": past, "caption": caption}
            for flow, past, caption in [(torch.zeros(4, 2, 32, 32), torch.zeros(1, 2, 32, 32), "stay"),
                                        (moving, moving[:1], "push red")]]
    report = evaluate_forecaster(model(), data, batch_size=2, progress=False)
    assert math.isnan(report["by_kind"]["still"]["model"]["epe_moving"])
    still_line = next(line for line in format_report(report).splitlines() if line.strip().startswith("still"))
    assert "no moving pixels" in still_line and "nan" not in still_line
    # All pixels are reported and judged too: the still clip's all-pixel errors, the best baseline on all pixels.
    ratios = report["ratios"]
    best_all = min(("zero", "last", "linear"), key=lambda b: report[b]["epe"])
    assert ratios["best_baseline_all"] == best_all
    assert ratios["model_vs_best_baseline_all"] == pytest.approx(report["model"]["epe"] / report[best_all]["epe"])
    text = format_report(report)
    assert f"all pixels ({best_all}): {ratios['model_vs_best_baseline_all']:.3f}" in text
    assert text.count("EPE all:") == len(report["by_kind"])

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    atomic_write_json(tmp_path / "eval.json", report)
    saved = json.loads((tmp_path / "eval.json").read_text(), parse_constant=refuse)
    assert saved["by_kind"]["still"]["model"]["epe_moving"] is None
    assert saved["by_kind"]["moving"]["model"]["epe_moving"] > 0


def test_episode_specs_name_ranges_lists_and_refuse_what_does_not_exist():
    from motionvla.flow_forecast.lerobot_data import parse_episodes

    assert parse_episodes("", 4) == [0, 1, 2, 3]
    assert parse_episodes(":2", 6) == [0, 1] and parse_episodes("-2:", 6) == [4, 5]
    assert parse_episodes("4:6, 0:1", 12) == [4, 5, 0]  # a few episodes of each task, in the order given
    assert parse_episodes("1,3,-1,3", 5) == [1, 3, 4]
    for bad, says in [("7", "episode 7 does not exist"), ("a:b", "must look like"), ("3:3", "names no episode")]:
        with pytest.raises(UserError, match=says):
            parse_episodes(bad, 5)


def test_one_step_fraction_reaches_the_dit_during_training():
    m = model(one_step_fraction=1.0)
    seen = []
    m.dit.register_forward_pre_hook(lambda module, args: seen.append(args[1].clone()))
    loss, _ = m(batch())
    loss.backward()
    assert len(seen) == 1 and (seen[0] == 1.0).all()  # every sample trained where 1-step sampling queries

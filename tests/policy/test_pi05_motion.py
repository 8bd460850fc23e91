"""pi05_motion: lerobot's π0.5 + our motion head on PaliGemma's prefix.

Full size only on the meta device. Everything that runs uses a reduced π0.5 built by lerobot's own code with
its hard-coded sizes patched in this module only: Gemma's (``get_gemma_config``: depth 1, tiny MLP, 8 heads of
8), PaliGemma's vision tower (``CONFIG_MAPPING["paligemma"]()``: one 32-wide SigLIP layer, 8-px patches on
32² images) and the 257152-token vocabulary (1024). The text width stays 2048: lerobot fixes the vision
projection to 2048. No weights, tokenizer or network are used: language tokens are fed directly, and the
processor test builds a word-level tokenizer in-process.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import gc
from collections.abc import Callable
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature
from lerobot.policies.factory import get_policy_class, make_policy, make_policy_config, make_pre_post_processors
from lerobot.policies.pi05 import modeling_pi05, processor_pi05
from lerobot.policies.pi05.configuration_pi05 import PI05Config
from lerobot.policies.pi05.modeling_pi05 import GemmaConfig, PI05Policy
from lerobot.utils.constants import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS
from transformers.models.auto import CONFIG_MAPPING

from motionvla.errors import UserError
from motionvla.policy.motion_head.flow_step import FlowTargetsStep
from motionvla.policy.pi05_motion import PI05MotionConfig
from motionvla.policy.pi05_motion.describe import describe_on_meta
from motionvla.policy.pi05_motion.modeling_pi05_motion import CheckpointError, PI05MotionPolicy

CAM, WRIST, STATE = "observation.images.image", "observation.images.image2", "observation.state"
SIZE, STATE_DIM, ACTION_DIM, TOKENS, VOCAB = 32, 6, 7, 8, 1024


# --- a reduced π0.5 ---------------------------------------------------------------------------------------------
def tiny_gemma(variant: str) -> GemmaConfig:
    """Depth 1, tiny MLP and heads. Both streams share heads × head_dim (π0.5's joint attention), and lerobot's
    joint layer reshapes the attention output to 8 heads, so 8 heads it is (of 8 dims)."""
    width = 2048 if variant == "gemma_2b" else 64
    return GemmaConfig(width=width, depth=1, mlp_dim=32, num_heads=8, num_kv_heads=1, head_dim=8)


def tiny_paligemma_config():
    """PaliGemma's default config with a 1-layer, 32-wide SigLIP of 8-px patches (16 tokens per 32² image)."""
    config = CONFIG_MAPPING["paligemma"]()
    vision = config.vision_config
    vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads, vision.patch_size = 32, 1, 2, 8
    return config


REAL_SIZES = (modeling_pi05.get_gemma_config, modeling_pi05.CONFIG_MAPPING)


def small_vocabulary(model_class: type) -> Callable:
    """``model_class(config=...)`` with the (text) config's vocabulary cut to :data:`VOCAB` tokens: lerobot sets
    257152 right before building, and a 2048 × 257152 embedding plus head made each reduced model 1.07 B
    parameters (60 s to build, 15 GB of memory here)."""

    def build(config):
        getattr(config, "text_config", config).vocab_size = VOCAB
        return model_class(config=config)

    return build


@pytest.fixture(scope="module")
def reduced_pi05():
    """While active, every π0.5 built (directly or by from_pretrained) is the reduced one."""
    mapping = {"paligemma": tiny_paligemma_config, "gemma": CONFIG_MAPPING["gemma"]}
    with mock.patch.object(modeling_pi05, "get_gemma_config", tiny_gemma), \
            mock.patch.object(modeling_pi05, "CONFIG_MAPPING", mapping), \
            mock.patch.object(modeling_pi05, "PaliGemmaForConditionalGenerationWithPiGemma",
                              small_vocabulary(modeling_pi05.PaliGemmaForConditionalGenerationWithPiGemma)), \
            mock.patch.object(modeling_pi05, "PiGemmaForCausalLM", small_vocabulary(modeling_pi05.PiGemmaForCausalLM)):
        yield


def tiny_config(**overrides) -> PI05MotionConfig:
    base = dict(device="cpu", image_resolution=(SIZE, SIZE), chunk_size=4, n_action_steps=4, max_state_dim=8,
                max_action_dim=8, num_inference_steps=2, tokenizer_max_length=TOKENS, motion_frames=2,
                motion_resolution=8, motion_patch_size=2, motion_layers=1, motion_heads=2, motion_head_dim=16,
                flow_max_magnitude=1.0)
    config = PI05MotionConfig(**{**base, **overrides})
    config.input_features = {CAM: PolicyFeature(FeatureType.VISUAL, (3, SIZE, SIZE)),
                             WRIST: PolicyFeature(FeatureType.VISUAL, (3, SIZE, SIZE)),
                             STATE: PolicyFeature(FeatureType.STATE, (STATE_DIM,))}
    config.output_features = {"action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))}
    return config


def fake_batch(config: PI05MotionConfig, b: int = 2, seed: int = 0) -> dict:
    """A pre-processed π0.5 training batch (tokens fed directly; the second sample's last 3 tokens are padding)
    with future flow ``motion (B, K, 2, 32, 32)``; the wrist camera is missing (masked out by π0.5)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, TOKENS, dtype=torch.bool)
    mask[1:, -3:] = False
    return {CAM: torch.rand(b, 3, SIZE, SIZE, generator=g), STATE: torch.rand(b, STATE_DIM, generator=g) * 2 - 1,
            OBS_LANGUAGE_TOKENS: torch.randint(0, 1000, (b, TOKENS), generator=g), OBS_LANGUAGE_ATTENTION_MASK: mask,
            "action": torch.randn(b, config.chunk_size, ACTION_DIM, generator=g),
            "motion": torch.randn(b, config.motion_frames, 2, SIZE, SIZE, generator=g),
            "motion_mask": torch.tensor([[True] * config.motion_frames, [True] + [False] * (config.motion_frames - 1)])}


@pytest.fixture(scope="module")
def policy(reduced_pi05) -> PI05MotionPolicy:
    torch.manual_seed(0)
    return PI05MotionPolicy(tiny_config())


def language_param(policy: PI05Policy) -> torch.Tensor:
    return policy.model.paligemma_with_expert.paligemma.model.language_model.layers[0].mlp.down_proj.weight


# --- full size, registration -------------------------------------------------------------------------------------
def test_full_size_builds_on_meta_with_pi05_sizes():
    with mock.patch.object(modeling_pi05, "get_gemma_config", REAL_SIZES[0]), \
            mock.patch.object(modeling_pi05, "CONFIG_MAPPING", REAL_SIZES[1]):  # whatever ran before
        counts = describe_on_meta()["parameters"]
    print({k: f"{v / 1e6:.1f} M" for k, v in counts.items()})
    assert 2.8e9 < counts["paligemma"] < 3.0e9  # PaliGemma-3B: SigLIP-So400m + Gemma-2B (+ 257152 × 2048 embedding)
    assert 0.38e9 < counts["vision"] < 0.45e9
    assert 0.25e9 < counts["action_expert"] < 0.5e9  # Gemma-300M (+ adaRMS conditioning) and the action projections
    assert 0.2e9 < counts["motion_head"] < 0.35e9
    assert counts["total"] == counts["paligemma"] + counts["action_expert"] + counts["lm_heads"] + counts["motion_head"]


def test_registered_with_lerobot():
    assert get_policy_class("pi05_motion") is PI05MotionPolicy
    config = make_policy_config("pi05_motion", device="cpu")
    assert isinstance(config, PI05MotionConfig) and isinstance(config, PI05Config) and config.type == "pi05_motion"
    assert config.observation_delta_indices == [0, 2, 4, 6, 8]  # frames t, t+2, ..., t+8 for K = 4, stride 2
    assert make_policy_config("pi05_motion", device="cpu", motion_weight=0.0).observation_delta_indices is None


def test_lerobot_pi05_can_act_with_this_transformers(policy):
    """lerobot 0.6.1's π0.5 acting path (PiGemmaModel → create_causal_mask, whose ``cache_position`` argument newer
    transformers removed) acts as shipped on the pinned transformers: no adapter is installed."""
    from lerobot.policies import pi_gemma

    assert "cache_position" in inspect.signature(pi_gemma.create_causal_mask).parameters  # what lerobot passes
    obs = {k: v for k, v in fake_batch(policy.config).items() if k not in ("action", "motion", "motion_mask")}
    chunk = policy.predict_action_chunk(obs)
    assert chunk.shape == (2, 4, ACTION_DIM) and torch.isfinite(chunk).all()


def test_rtc_requests_use_lerobots_own_rtc_for_pi05(policy):
    """Through ``CheckpointPolicy``, a π0.5-family policy answers an RTC request with lerobot's own guided sampler
    (enabled on first use): the delayed actions are pulled to the prefix, and a request without one is unchanged."""
    from motionvla.inference import CheckpointPolicy

    runner = CheckpointPolicy(policy=policy)
    assert runner.supports_rtc and not runner._own_rtc
    obs = {k: v for k, v in fake_batch(policy.config).items() if k not in ("action", "motion", "motion_mask")}
    torch.manual_seed(5)
    free_before = policy.predict_action_chunk(dict(obs))
    prefix = torch.full((2, 3, ACTION_DIM), 0.75)
    torch.manual_seed(5)
    with torch.no_grad():
        guided = runner._rtc_chunk(dict(obs), prefix, delay=2)
    assert policy.config.rtc_config is not None and policy.config.rtc_config.enabled
    gap = lambda chunk: (chunk[:, :2] - prefix[:, :2]).abs().mean().item()  # noqa: E731
    assert gap(guided) < 0.5 * gap(free_before), (gap(guided), gap(free_before))
    torch.manual_seed(5)
    free_after = policy.predict_action_chunk(dict(obs))  # RTC enabled, no prefix: plain sampling, bit for bit
    assert torch.equal(free_after, free_before)
    policy.config.rtc_config = None  # the module's other tests use the policy as built
    policy.init_rtc_processor()


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="motion_weight"):
        PI05MotionConfig(device="cpu", motion_weight=-1.0)
    with pytest.raises(ValueError, match="motion_patch_size"):
        PI05MotionConfig(device="cpu", motion_patch_size=16, motion_resolution=64, motion_heads=2, motion_head_dim=8)
    with pytest.raises(ValueError, match="motion_camera"):
        PI05MotionConfig(device="cpu", motion_camera="front")


# --- forward / backward ------------------------------------------------------------------------------------------
def test_forward_reports_both_losses(policy):
    policy.train()
    loss, info = policy.forward(fake_batch(policy.config))
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert info["action_loss"] > 0 and info["motion_loss"] > 0 and np.isfinite(info["motion_loss"])
    assert info["loss"] == pytest.approx(info["action_loss"] + info["motion_loss"], rel=1e-5)
    per_sample, _ = policy.forward(fake_batch(policy.config), reduction="none")
    assert per_sample.shape == (2,)


def test_motion_loss_alone_trains_paligemma_not_the_action_expert(policy):
    policy.train()
    policy.zero_grad(set_to_none=True)
    _, motion_loss, _ = policy.compute_losses(fake_batch(policy.config))
    motion_loss.backward()
    pal = policy.model.paligemma_with_expert.paligemma
    assert language_param(policy).grad is not None and language_param(policy).grad.abs().sum() > 0
    patch = next(p for n, p in pal.model.vision_tower.named_parameters() if n.endswith("patch_embedding.weight"))
    assert patch.grad is not None and patch.grad.abs().sum() > 0  # the image tokens are part of the context
    assert next(policy.motion_head.parameters()).grad is not None
    # π0.5's prefix never attends to the action tokens, so the motion loss cannot reach the expert.
    expert = policy.model.paligemma_with_expert.gemma_expert.model.layers[0].mlp.down_proj.weight
    assert expert.grad is None or expert.grad.abs().sum() == 0
    policy.zero_grad(set_to_none=True)


def test_motion_gradients_are_the_same_with_gradient_checkpointing(policy):
    """lerobot's π0.5 recipe checkpoints every layer; the captured prefix must still carry the motion gradients."""
    batch, grads = fake_batch(policy.config), []
    try:
        for enable in (False, True):
            policy.train()
            policy.zero_grad(set_to_none=True)
            policy.model.gradient_checkpointing_enable() if enable else policy.model.gradient_checkpointing_disable()
            torch.manual_seed(5)
            _, motion_loss, _ = policy.compute_losses(batch)
            motion_loss.backward()
            grads.append(language_param(policy).grad.clone())
    finally:
        policy.model.gradient_checkpointing_disable()
        policy.zero_grad(set_to_none=True)
    assert grads[1].abs().sum() > 0 and torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-7)


def test_motion_weight_zero_is_plain_pi05(reduced_pi05):
    config = tiny_config(motion_weight=0.0)
    torch.manual_seed(1)
    ours = PI05MotionPolicy(config)
    assert ours.motion_head is None
    pi05_config = PI05Config(**{f.name: getattr(config, f.name) for f in dataclasses.fields(PI05Config) if f.init})
    theirs = PI05Policy(pi05_config)
    theirs.load_state_dict(ours.state_dict(), strict=True)  # the same keys: a pi05 checkpoint either way
    batch = fake_batch(config)
    torch.manual_seed(2)
    loss_ours, _ = ours.forward(batch)
    torch.manual_seed(2)
    loss_theirs, _ = theirs.forward(batch)
    assert torch.equal(loss_ours, loss_theirs)
    del ours, theirs
    gc.collect()


def test_bad_motion_targets_are_refused_before_any_work(policy):
    batch = fake_batch(policy.config)
    wrong = dict(batch, motion=batch["motion"][:, :1])
    with pytest.raises(ValueError, match=r"motion_frames=2, 2, H, W"):
        policy.forward(wrong)
    with pytest.raises(ValueError, match="must be future flow"):
        policy.forward(dict(batch, motion=batch["motion"][:, :, 0]))
    with pytest.raises(UserError, match="motionvla_flow_targets"):
        policy.forward({k: v for k, v in batch.items() if k != "motion"})
    with pytest.raises(ValueError, match="prefix layout"):
        policy._prefix.mask([torch.ones(2, dtype=torch.bool)], batch[OBS_LANGUAGE_ATTENTION_MASK], 99)


def test_acting_never_runs_the_motion_head_and_predict_motion_does(policy):
    calls = []
    handle = policy.motion_head.register_forward_hook(lambda *a: calls.append(1))
    try:
        obs = {k: v for k, v in fake_batch(policy.config).items() if k not in ("action", "motion", "motion_mask")}
        policy.reset()
        assert policy.select_action(obs).shape == (2, ACTION_DIM)
        assert policy.predict_action_chunk(obs).shape == (2, 4, ACTION_DIM)
        assert calls == []
        motion = policy.predict_motion(obs, num_steps=2, generator=torch.Generator().manual_seed(0))
    finally:
        handle.remove()
    assert calls and motion.shape == (2, 2, 3, 8, 8)
    # A forecast of the observation, reproducible with its generator, not a constant image.
    again = policy.predict_motion(obs, num_steps=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(motion, again) and motion.std() > 0


# --- checkpoints ------------------------------------------------------------------------------------------------
def test_save_load_round_trip_is_exact(policy, tmp_path):
    policy.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not list(tmp_path.glob("*.bin"))
    loaded = PI05MotionPolicy.from_pretrained(tmp_path)
    assert isinstance(loaded.config, PI05MotionConfig) and loaded.config.motion_frames == 2
    theirs, ours = policy.state_dict(), loaded.state_dict()
    assert any(k.startswith("model.motion_head.") for k in ours) and theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)
    obs = {k: v for k, v in fake_batch(policy.config).items() if k not in ("action", "motion", "motion_mask")}
    noise = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(policy.predict_action_chunk(obs, noise=noise), loaded.predict_action_chunk(obs, noise=noise))
    del loaded
    gc.collect()


def test_pi05_checkpoint_loads_into_pi05_motion_and_bad_ones_are_refused(policy, tmp_path):
    plain = tmp_path / "pi05"
    config = tiny_config(motion_weight=0.0)
    PI05MotionPolicy(config).save_pretrained(plain)  # writes the keys of a plain π0.5 checkpoint
    loaded = PI05MotionPolicy.from_pretrained(plain, config=tiny_config())
    assert loaded.motion_head is not None and not loaded._load_report.motion_head_loaded
    del loaded
    gc.collect()
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no weights were loaded"):
        PI05MotionPolicy.from_pretrained(tmp_path / "empty", config=tiny_config())
    policy.save_pretrained(tmp_path / "motion")  # a 1-layer motion head, loaded into a 2-layer one
    with pytest.raises(CheckpointError, match="1 of .* motion-head tensors missing|motion-head tensors missing"):
        PI05MotionPolicy.from_pretrained(tmp_path / "motion", config=tiny_config(motion_layers=2))
    gc.collect()


# --- the pre-processor with the flow-target step -------------------------------------------------------------------
def tiny_tokenizer():
    """A word-level tokenizer standing in for PaliGemma's (which is gated and offline here)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = "<pad> [UNK] task : push the red block left , state ; action".split() + [str(i) for i in range(256)]
    word_level = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<pad>", unk_token="[UNK]")


MEAN_STD = {"VISUAL": NormalizationMode.IDENTITY, "STATE": NormalizationMode.MEAN_STD, "ACTION": NormalizationMode.MEAN_STD}
STATS = {STATE: {"mean": torch.zeros(STATE_DIM), "std": torch.ones(STATE_DIM)},
         "action": {"mean": torch.zeros(ACTION_DIM), "std": torch.ones(ACTION_DIM)}}


def training_window(config: PI05MotionConfig, b: int = 2) -> dict:
    """What lerobot's dataset yields for observation_delta_indices (K + 1 frames of every observation key):
    a bright square moving 2 px per loaded frame; the second sample's last frame lies past its episode's end."""
    k = config.motion_frames
    frames = torch.rand(1, 1, 3, SIZE, SIZE).repeat(b, k + 1, 1, 1, 1) * 0.3
    for t in range(k + 1):
        frames[:, t, :, 8:20, 4 + 2 * t:16 + 2 * t] = 1.0
    return {CAM: frames, WRIST: frames.clone(), STATE: torch.zeros(b, k + 1, STATE_DIM),
            "action": torch.randn(b, config.chunk_size, ACTION_DIM), "task": ["push the red block left"] * b,
            f"{CAM}_is_pad": torch.tensor([[False] * (k + 1), [False] * k + [True]])}


def with_tiny_tokenizer():
    """lerobot's π0.5 factory builds its tokenizer step by hub name; here it gets the in-process tokenizer."""
    return mock.patch.object(processor_pi05, "TokenizerProcessorStep",
                             functools.partial(processor_pi05.TokenizerProcessorStep, tokenizer=tiny_tokenizer()))


def test_preprocessor_turns_future_frames_into_motion_targets(policy):
    config = tiny_config(normalization_mapping=MEAN_STD)
    with with_tiny_tokenizer():
        pre, _ = make_pre_post_processors(config, dataset_stats=STATS)  # lerobot's factory finds ours by name
    names = [type(s).__name__ for s in pre.steps]
    assert names.index("FlowTargetsStep") == names.index("AddBatchDimensionProcessorStep") + 1
    k, b = config.motion_frames, 2
    raw = training_window(config, b)
    frames = raw[CAM]
    batch = pre(raw)
    assert batch["motion"].shape == (b, k, 2, 8, 8) and batch["motion_mask"].tolist() == [[True, True], [True, False]]
    assert batch[CAM].shape == (b, 3, SIZE, SIZE) and batch[STATE].shape == (b, STATE_DIM)
    assert batch[OBS_LANGUAGE_TOKENS].shape == (b, TOKENS)
    assert batch["motion"][0, :, 0].max() > 0.2  # the square moves right: positive x flow
    loss, info = policy.forward(batch)  # the processed batch trains the reduced policy end to end
    assert torch.isfinite(loss) and info["motion_loss"] > 0
    acting = pre({CAM: frames[:, 0], WRIST: frames[:, 0], STATE: torch.zeros(b, STATE_DIM), "task": ["push"] * b})
    assert "motion" not in acting and acting[CAM].shape == (b, 3, SIZE, SIZE)
    assert isinstance(pre.steps[names.index("FlowTargetsStep")], FlowTargetsStep)


LIBERO_LIKE = {CAM: {"dtype": "video", "shape": (SIZE, SIZE, 3), "names": ["height", "width", "channels"]},
               WRIST: {"dtype": "video", "shape": (SIZE, SIZE, 3), "names": ["height", "width", "channels"]},
               STATE: {"dtype": "float32", "shape": (STATE_DIM,), "names": None},
               "action": {"dtype": "float32", "shape": (ACTION_DIM,), "names": None}}


def test_lerobot_train_wiring_from_a_pi05_checkpoint(reduced_pi05, tmp_path):
    """What the LIBERO recipe runs, minus the loop: init_from_pi05 on a (reduced) π0.5 checkpoint, then
    lerobot-train's make_policy(pretrained_path=...) and make_pre_post_processors(pretrained_path=...)."""
    from lerobot.processor import TokenizerProcessorStep

    from motionvla.policy.pi05_motion.init_from_pi05 import init_from_pi05

    sizes = {f.name: getattr(tiny_config(), f.name) for f in dataclasses.fields(PI05Config)
             if f.init and f.name not in ("input_features", "output_features", "pretrained_path")}
    sizes["normalization_mapping"] = MEAN_STD
    torch.manual_seed(4)
    base = PI05Policy(PI05Config(**{**sizes, "input_features": tiny_config().input_features,
                                    "output_features": tiny_config().output_features}))
    base.save_pretrained(tmp_path / "pi05_base")
    motion = {k: getattr(tiny_config(), k) for k in ("motion_frames", "motion_resolution", "motion_patch_size",
                                                     "motion_layers", "motion_heads", "motion_head_dim", "flow_max_magnitude")}
    with with_tiny_tokenizer():
        init = init_from_pi05(str(tmp_path / "pi05_base"), LIBERO_LIKE, STATS, tmp_path / "init", **sizes, **motion)
    assert {"config.json", "model.safetensors", "policy_preprocessor.json", "policy_postprocessor.json"} <= {
        p.name for p in init.iterdir()}

    config = make_policy_config("pi05_motion", pretrained_path=str(init), **sizes, **motion)
    policy = make_policy(config, ds_meta=SimpleNamespace(features=LIBERO_LIKE, stats=STATS, repo_id="fake/libero"))
    assert torch.equal(language_param(policy), language_param(base)) and policy.motion_head is not None
    overrides = {"device_processor": {"device": "cpu"}, "tokenizer_processor": {"tokenizer": tiny_tokenizer()},
                 "rename_observations_processor": {"rename_map": {}}}
    pre, _ = make_pre_post_processors(config, pretrained_path=str(init), dataset_stats=STATS,
                                      preprocessor_overrides=overrides)
    assert any(isinstance(s, FlowTargetsStep) for s in pre.steps)
    assert any(isinstance(s, TokenizerProcessorStep) for s in pre.steps)
    batch = pre(training_window(config))
    policy.train()
    loss, info = policy.forward(batch)
    assert torch.isfinite(loss) and info["motion_loss"] > 0 and batch["motion"].shape == (2, 2, 2, 8, 8)
    del policy, base
    gc.collect()


def test_codec_scale_is_measured_on_the_flow_camera_when_make_policy_builds_for_a_dataset(reduced_pi05, monkeypatch):
    from motionvla.datasets import flow_scale
    from motionvla.policy.pi05_motion import flow_scale as pi05_flow_scale

    seen = {}

    def fake_sample(repo_id, root, camera, cfg, q, **kwargs):
        seen.update(repo_id=repo_id, camera=camera, cfg=cfg, q=q, **kwargs)
        return 2.3456

    monkeypatch.setattr(flow_scale, "sample_flow_scale", fake_sample)
    meta = SimpleNamespace(features=LIBERO_LIKE, stats=STATS, repo_id="fake/libero", root="/nowhere", total_episodes=20)
    config = tiny_config(flow_max_magnitude=0.0)
    config.input_features = {}  # make_policy fills them from the dataset, as lerobot-train does
    policy = make_policy(config, ds_meta=meta)
    assert policy.config.flow_max_magnitude == 2.35 and seen["camera"] == CAM and seen["q"] == 99.5
    assert (seen["cfg"].camera, seen["cfg"].num_flows, seen["cfg"].stride, seen["cfg"].height) == ("image", 2, 2, 8)
    assert seen["max_episodes"] == 8 and seen["total_episodes"] == 20
    with pytest.raises(UserError, match="has no observation.images.side"):
        pi05_flow_scale.measure_flow_scale(tiny_config(motion_camera="observation.images.side"), meta)
    del policy
    gc.collect()

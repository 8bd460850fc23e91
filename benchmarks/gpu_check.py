"""One-command GPU check: training-step time and peak memory of the real-size models, the tiny policy's GPU vs CPU
speed and the MoE layer, all from random weights (nothing is downloaded), printed as ONE JSON object on stdout.

    .venv/bin/python benchmarks/gpu_check.py --json docs/gpu_check.json   # the real one: one H100, < 8 minutes
    .venv/bin/python benchmarks/gpu_check.py --tiny --device cuda          # seconds: the same code paths, tiny shapes
    .venv/bin/python benchmarks/gpu_check.py --tiny                        # CPU smoke test (tests/benchmarks runs it)

Parts (``--parts``: a comma list, run in its order; by default the quick parts 4 and 5 first). Each records the
shapes it used and its seconds (``part_s``):

1. ``qwen_dual_head``: MotionVLAPolicy with the ``qwen2.5-vl-3b`` preset (Qwen2.5-VL-3B + ~300M action expert + motion
   DiT) built from configs: seconds per training step (forward, loss, backward, clip, AdamW; median of ``--steps``
   after one warm-up), peak ``torch.cuda.max_memory_allocated``, parameters. Qwen's processor is built offline (its
   image processor, a word-level tokenizer with Qwen's special-token ids), so the step includes its CPU work.
2. ``pi05_motion``: the same for lerobot's π0.5 + motion head at full size; language token ids are fed directly (the
   PaliGemma tokenizer is a download).
3. ``fofpred_3b``: the forecaster's training step (frozen Qwen2.5-VL-3B encoder, DiT trained), ``fofpred-3b`` preset.
4. ``tiny_policy``: the quickstart's tiny policy: training steps/s and ``predict_action_chunk`` latency (batch 1), on
   the GPU and on the CPU in the same run.
5. ``llep_layer``: ``MoEFeedForward`` (local dispatch: a loop over experts) forward+backward at docs/moe.md's shape,
   and whether ``torch._grouped_mm`` exists, runs, matches the loop, how fast, and whether it has a backward.

``--precisions`` (parts 1-3, measured in turn): ``bf16`` = bf16 weights, gradients and AdamW states under bf16
autocast (π0.5: lerobot's ``dtype=bfloat16``, its vision tower kept fp32); ``amp`` = fp32 weights under bf16 autocast
(``--train.mixed_precision=bf16``); ``fp32``. A failed part records ``{"error": "<Type>: <first line>"}``, a failed
precision the same in its entry; both are listed in ``failed_parts`` and the run goes on (exit 0). ``--tiny`` shrinks
every model (copies of the same config classes): well under a minute on a CPU. ``--fail_part NAME``: that part raises
at its start (testing).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

T0 = time.perf_counter()  # wall_s counts the imports too

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from motionvla.utils.atomic import atomic_write_text  # noqa: E402
from motionvla.utils.machine import cpu_model  # noqa: E402

PARTS = ("qwen_dual_head", "pi05_motion", "fofpred_3b", "tiny_policy", "llep_layer")
# By default the parts of seconds run first, so a slow big model cannot cost their figures.
DEFAULT_ORDER = ("tiny_policy", "llep_layer", "qwen_dual_head", "pi05_motion", "fofpred_3b")
DTYPES = {"bf16": torch.bfloat16, "amp": torch.float32, "fp32": torch.float32}  # the weights' dtype per precision
PRECISIONS = tuple(DTYPES)
CAMERAS = ["observation.images.front", "observation.images.wrist"]  # the quickstart's (make demo's) cameras


@dataclass
class Run:
    device: torch.device
    tiny: bool
    precisions: list[str]
    batch_size: int
    steps: int
    budget_s: float

    def check_budget(self) -> None:
        if time.perf_counter() - T0 > self.budget_s:  # the lent GPU's time is fixed: drop work rather than overrun
            raise TimeoutError(f"skipped: past --budget_s={self.budget_s}")


def error_text(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:300] if lines else ''}"


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda _: None  # CUDA kernels run asynchronously
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def gib(n: float) -> float:
    return round(n / 2**30, 3)


def on(batch: dict, device: torch.device) -> dict:
    # Inputs sit on the device before timing: a training loop's loader prefetches them.
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


def train_figures(model: nn.Module, batch: dict, run: Run, precision: str) -> dict[str, Any]:
    """Median seconds of ``run.steps`` training steps after one warm-up, and the peak memory over them."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    losses: list[float] = []
    amp = torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=precision != "fp32")

    def step() -> None:
        with amp:
            loss = model(batch)[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)  # the project's step clips too: one more pass over the gradients
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))

    model.train()
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(run.device)
    times = [timed(step, run.device) for _ in range(1 + run.steps)]
    median = statistics.median(times[1:])
    out = {"step_s": round(median, 4), "steps_per_s": round(1 / median, 3), "warmup_step_s": round(times[0], 3),
           "loss": round(losses[-1], 4), "parameters": sum(p.numel() for p in model.parameters()),
           "trained_parameters": sum(p.numel() for p in params)}
    if run.device.type == "cuda":
        out["peak_gib"] = gib(torch.cuda.max_memory_allocated(run.device))
    return out


def per_precision(run: Run, build: Callable[[str], tuple[nn.Module, dict]]) -> dict[str, Any]:
    """``build(precision) -> (model, batch)`` measured per precision; a precision's failure stays in its entry."""
    out: dict[str, Any] = {}
    for precision in run.precisions:
        model, entry = None, out.setdefault(precision, {})
        try:
            run.check_budget()
            t0 = time.perf_counter()
            model, batch = build(precision)
            entry["build_s"] = round(time.perf_counter() - t0, 2)
            if run.device.type == "cuda":
                entry["weights_gib"] = gib(torch.cuda.memory_allocated(run.device))
            entry.update(train_figures(model, batch, run, precision))
        except Exception as e:  # an OOM in one precision must not hide the other's figures
            entry["error"] = error_text(e)
            if run.device.type == "cuda":  # how far it got
                entry["peak_gib"] = gib(torch.cuda.max_memory_allocated(run.device))
        finally:
            del model
            free(run.device)
    return out


def qwen_vl_config(tiny: bool) -> Any:
    from transformers import Qwen2_5_VLConfig
    from motionvla.vlm import qwen2_5_vl_3b_config

    if not tiny:
        return qwen2_5_vl_3b_config()
    # The same class and special-token ids (so the same processor works), 2 narrow text layers, 1 vision block.
    return Qwen2_5_VLConfig(
        text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           fullatt_block_indexes=[0]))


def offline_qwen_processor(vl_config: Any, tiny: bool) -> Any:
    """Qwen2.5-VL's processor with a word-level tokenizer built here: the vision special tokens keep Qwen's ids, so
    image-token expansion and position ids are the hub processor's; words get low ids (the hub vocabulary is a
    download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    specials = {"<|endoftext|>": vl_config.text_config.bos_token_id, "<|vision_start|>": vl_config.vision_start_token_id,
                "<|vision_end|>": vl_config.vision_end_token_id, "<|image_pad|>": vl_config.image_token_id,
                "<|video_pad|>": vl_config.video_token_id}
    words = "[UNK] push pick up open the a red block cup drawer to left right".split()
    word_level = Tokenizer(models.WordLevel({**{w: i for i, w in enumerate(words)}, **specials}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<|endoftext|>", unk_token="[UNK]",
                                        additional_special_tokens=list(specials)[1:])
    # The hub's image settings are the class defaults (224² -> 64 tokens); tiny: 56² -> 4 tokens per image.
    images = Qwen2VLImageProcessor(**({"min_pixels": 56 * 56, "max_pixels": 56 * 56} if tiny else {}))
    return Qwen2_5_VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor())


def part_qwen_dual_head(run: Run) -> dict[str, Any]:
    from motionvla.policy import MotionVLAPolicy
    from motionvla.policy.presets import qwen2_5_vl_3b
    from motionvla.policy.pretrained_backbone import _QWEN_IMAGE

    tiny = dict(image_size=56, action_hidden_size=32, action_layers=1, action_heads=2, motion_resolution=16,
                motion_patch_size=2, motion_layers=1, motion_heads=2, motion_head_dim=32, chunk_size=4, n_action_steps=4)
    config = qwen2_5_vl_3b(device=run.device.type, state_dim=8, action_dim=7, flow_max_magnitude=1.0,
                           **(tiny if run.tiny else {}))
    vl = qwen_vl_config(run.tiny)
    batch = config.fake_batch(run.batch_size)
    # Flow targets arrive at the motion resolution (as from the flow cache; benchmarks/policy_speed.py).
    batch["motion"] = batch["motion"][..., : config.motion_resolution, : config.motion_resolution]

    def build(precision: str) -> tuple[nn.Module, dict]:
        with torch.device(run.device):  # random init straight on the device: a 4B-parameter CPU init takes minutes
            policy = MotionVLAPolicy(config, backbone_config=vl)
        policy.backbone.processor = offline_qwen_processor(vl, run.tiny)  # a backbone built from a config has none
        policy.backbone._image_placeholder = _QWEN_IMAGE
        return policy.to(DTYPES[precision]), on(batch, run.device)

    shapes = {"batch_size": run.batch_size, "cameras": len(config.image_keys), "image_size": config.image_size,
              "chunk_size": config.chunk_size, "motion": [config.motion_frames, config.motion_resolution],
              "vlm_text_layers": vl.text_config.num_hidden_layers, "vlm_width": vl.text_config.hidden_size}
    return {"shapes": shapes, **per_precision(run, build)}


@contextlib.contextmanager
def shrunken_pi05(active: bool) -> Iterator[None]:
    """lerobot hard-codes π0.5's sizes; while ``active`` its builders get small copies of the same config classes:
    1-layer Gemmas (8 heads of 8: lerobot's joint attention reshapes to 8 heads; PaliGemma's text stays 2048 wide,
    the width of lerobot's fixed vision projection), a 1-layer 32-wide SigLIP of 8-px patches, 1024 tokens."""
    if not active:
        yield
        return
    from lerobot.policies.pi05 import modeling_pi05 as m
    from transformers.models.auto import CONFIG_MAPPING

    def gemma(variant: str) -> Any:
        return m.GemmaConfig(width=2048 if variant == "gemma_2b" else 64, depth=1, mlp_dim=32, num_heads=8,
                             num_kv_heads=1, head_dim=8)

    def paligemma() -> Any:
        config = CONFIG_MAPPING["paligemma"]()
        v = config.vision_config
        v.hidden_size, v.num_hidden_layers, v.num_attention_heads, v.patch_size = 32, 1, 2, 8
        return config

    def small_vocabulary(cls: type) -> Callable[..., nn.Module]:
        def build(config: Any) -> nn.Module:  # lerobot sets 257152 just before building
            getattr(config, "text_config", config).vocab_size = 1024
            return cls(config=config)
        return build

    builders = {n: small_vocabulary(getattr(m, n)) for n in ("PaliGemmaForConditionalGenerationWithPiGemma", "PiGemmaForCausalLM")}
    with mock.patch.multiple(m, get_gemma_config=gemma, **builders,
                             CONFIG_MAPPING={"paligemma": paligemma, "gemma": CONFIG_MAPPING["gemma"]}):
        yield


def part_pi05_motion(run: Run) -> dict[str, Any]:
    from lerobot.utils.constants import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS
    from motionvla.policy.pi05_motion.describe import CAMERAS as PI05_CAMERAS
    from motionvla.policy.pi05_motion.describe import meta_config
    from motionvla.policy.pi05_motion.modeling_pi05_motion import PI05MotionPolicy

    tiny = dict(image_resolution=(32, 32), chunk_size=4, n_action_steps=4, max_state_dim=8, max_action_dim=8,
                tokenizer_max_length=8, motion_frames=2, motion_resolution=8, motion_patch_size=2, motion_layers=1,
                motion_heads=2, motion_head_dim=16)
    b, probe = run.batch_size, meta_config(**(tiny if run.tiny else {}))
    side, tokens, g = probe.image_resolution[0], probe.tokenizer_max_length, torch.Generator().manual_seed(0)
    mask = torch.zeros(b, tokens, dtype=torch.bool)
    mask[:, : max(1, tokens // 4)] = True  # a prompt padded to tokenizer_max_length, as π0.5's processor pads it
    batch = {**{cam: torch.rand(b, 3, side, side, generator=g) for cam in PI05_CAMERAS},
             "observation.state": torch.randn(b, 8, generator=g), OBS_LANGUAGE_ATTENTION_MASK: mask,
             OBS_LANGUAGE_TOKENS: torch.randint(0, 1000, (b, tokens), generator=g),
             "action": torch.randn(b, probe.chunk_size, 7, generator=g),
             "motion": torch.randn(b, probe.motion_frames, 2, side, side, generator=g)}

    def build(precision: str) -> tuple[nn.Module, dict]:
        config = meta_config(**(tiny if run.tiny else {}))
        config.device = run.device.type  # meta_config leaves "meta"
        config.dtype = "bfloat16" if precision == "bf16" else "float32"  # lerobot's own bf16 (vision kept fp32)
        with shrunken_pi05(run.tiny), torch.device(run.device):
            policy = PI05MotionPolicy(config)
        return policy, on(batch, run.device)

    shapes = {"batch_size": b, "cameras": len(PI05_CAMERAS), "image_resolution": side, "language_tokens": tokens,
              "chunk_size": probe.chunk_size, "motion": [probe.motion_frames, probe.motion_resolution],
              "paligemma": "1-layer stand-in" if run.tiny else probe.paligemma_variant,
              "note": "language token ids fed directly: the PaliGemma tokenizer is a download"}
    return {"shapes": shapes, **per_precision(run, build)}


def part_fofpred_3b(run: Run) -> dict[str, Any]:
    from diffusers import ModelMixin
    from motionvla.flow_forecast.modeling import FlowForecaster
    from motionvla.flow_forecast.presets import preset
    from motionvla.flow_forecast.vlm_encoder import _QWEN_IMAGE

    tiny = dict(resolution=32, image_size=56, vae_latent_channels=4, vae_block_channels=(8, 16), dit_layers=1,
                dit_heads=2, dit_head_dim=32)
    cfg = preset("fofpred-3b", flow_max_magnitude=1.0, **(tiny if run.tiny else {}))
    vl, b, g = qwen_vl_config(run.tiny), run.batch_size, torch.Generator().manual_seed(0)
    batch = {"frames": torch.rand(b, cfg.frames_in, 3, cfg.image_size, cfg.image_size, generator=g),
             "flow": torch.randn(b, cfg.num_frames, 2, cfg.resolution, cfg.resolution, generator=g),
             "caption": ["push the red block to the left"] * b}

    def build(precision: str) -> tuple[nn.Module, dict]:
        with torch.device(run.device):  # FlowForecaster.on_meta's construction (its __init__ downloads the VLM)
            model = FlowForecaster.__new__(FlowForecaster)
            ModelMixin.__init__(model)
            model.cfg = cfg
            model._build(vl)
        model.encoder.processor, model.encoder.placeholder = offline_qwen_processor(vl, run.tiny), _QWEN_IMAGE
        return model.to(DTYPES[precision]), on(batch, run.device)

    shapes = {"batch_size": b, "frames_in": cfg.frames_in, "num_frames": cfg.num_frames, "resolution": cfg.resolution,
              "image_size": cfg.image_size, "latent": [cfg.data_channels, cfg.latent_resolution],
              "dit_layers_width": [cfg.dit_layers, cfg.dit_heads * cfg.dit_head_dim]}
    return {"shapes": shapes, **per_precision(run, build)}


def tiny_policy_on(device: torch.device, batch_size: int, steps: int, rounds: int) -> dict[str, Any]:
    from motionvla.policy import MotionVLAPolicy
    from motionvla.train.prepare import tiny_recipe_policy

    torch.manual_seed(0)
    config = tiny_recipe_policy(device=device.type, image_keys=CAMERAS, image_size=64, state_dim=4, action_dim=4,
                                flow_max_magnitude=1.0)
    policy = MotionVLAPolicy(config).to(device)
    batch = config.fake_batch(batch_size)
    batch["motion"] = batch["motion"][..., : config.motion_resolution, : config.motion_resolution]
    batch, obs = on(batch, device), on(config.fake_batch(1, seed=1, with_targets=False), device)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-4)

    def step() -> None:
        policy(batch)[0].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    policy.train()
    train = statistics.median([timed(step, device) for _ in range(2 + steps)][2:])
    policy.eval()
    with torch.inference_mode():  # benchmarks/policy_speed.py's measure: one chunk for one observation
        infer = [timed(lambda: policy.predict_action_chunk(obs), device) for _ in range(3 + rounds)][3:]
    return {"train_steps_per_s": round(1 / train, 2), "train_step_ms": round(1000 * train, 2),
            "chunk_latency_ms": round(1000 * statistics.median(infer), 3),
            "chunk_latency_ms_max": round(1000 * max(infer), 3), "threads": torch.get_num_threads(),
            "parameters": sum(p.numel() for p in policy.parameters()),
            "shapes": {"batch_size": batch_size, "cameras": len(CAMERAS), "image_size": 64, "chunk_size": config.chunk_size,
                       "num_inference_steps": config.num_inference_steps, "inference_batch": 1}}


def part_tiny_policy(run: Run) -> dict[str, Any]:
    # The recipe's batch of 32; --tiny keeps the model (it is the tiny one) and cuts batch and rounds.
    batch_size, steps, rounds = (8, 3, 5) if run.tiny else (32, 20, 30)
    out: dict[str, Any] = {}
    if run.device.type != "cpu":
        out[run.device.type] = tiny_policy_on(run.device, batch_size, steps, rounds)
    out["cpu"] = tiny_policy_on(torch.device("cpu"), batch_size, steps, rounds)
    if "cuda" in out:
        out["cpu_over_cuda"] = {"train_step": round(out["cpu"]["train_step_ms"] / out["cuda"]["train_step_ms"], 2),
                                "chunk_latency": round(out["cpu"]["chunk_latency_ms"] / out["cuda"]["chunk_latency_ms"], 2)}
    return out


def part_llep_layer(run: Run) -> dict[str, Any]:
    from motionvla.moe import MoEFeedForward
    from motionvla.moe.experts import swiglu_grouped
    from motionvla.moe.permute import permute

    tokens, d, h, n, k = (256, 32, 64, 8, 2) if run.tiny else (8192, 1024, 2816, 64, 4)  # docs/moe.md's layer
    dev, rounds = run.device, 3 if run.tiny else 10
    torch.manual_seed(0)
    layer = MoEFeedForward(d, h, n, k).to(dev, torch.bfloat16)
    x = torch.randn(tokens, d, device=dev, dtype=torch.bfloat16, requires_grad=True)
    median_ms = lambda fn: round(1000 * statistics.median([timed(fn, dev) for _ in range(2 + rounds)][2:]), 3)  # noqa: E731

    def fwd_bwd() -> None:
        layer(x).float().square().mean().backward()
        layer.zero_grad(set_to_none=True)
        x.grad = None

    out: dict[str, Any] = {
        "shapes": {"tokens": tokens, "hidden": d, "expert_hidden": h, "experts": n, "top_k": k, "dtype": "bfloat16"},
        "dispatch": "local: motionvla.moe.experts.swiglu_grouped, three matmuls per expert in a Python loop",
        "fwd_bwd_ms": median_ms(fwd_bwd), "torch_grouped_mm": hasattr(torch, "_grouped_mm")}
    with torch.no_grad():
        out["fwd_ms"] = median_ms(lambda: layer(x))
        w = layer.experts
        perm = permute(layer.router(x), n)
        rows, counts = x[perm.tokens], perm.counts.tolist()
        weights = [(w.w_gate[e], w.w_up[e], w.w_down[e]) for e in range(n)]
        out["expert_loop_fwd_ms"] = median_ms(lambda: swiglu_grouped(rows, counts, weights))
    if out["torch_grouped_mm"]:
        try:  # the same SwiGLU through torch's grouped GEMM: would replacing the loop pay?
            offs = perm.counts.cumsum(0).to(torch.int32)

            def grouped() -> Tensor:
                gate, up = (torch._grouped_mm(rows, m, offs=offs) for m in (w.w_gate, w.w_up))
                return torch._grouped_mm(torch.nn.functional.silu(gate) * up, w.w_down, offs=offs)

            with torch.no_grad():
                diff = float((grouped().float() - swiglu_grouped(rows, counts, weights).float()).abs().max())
                ms = median_ms(grouped)
            grouped().float().sum().backward()  # does autograd go through it?
            out["grouped_mm"] = {"fwd_ms": ms, "speedup_vs_loop": round(out["expert_loop_fwd_ms"] / ms, 2),
                                 "max_abs_diff_vs_loop": diff, "backward": w.w_gate.grad is not None}
        except Exception as e:  # recorded, not a failure: the layer does not use it
            out["grouped_mm"] = {"runs": False, "why": error_text(e)}
    return out


def environment(device: torch.device) -> dict[str, Any]:
    import diffusers
    import lerobot
    import transformers

    env = {"device": cpu_model(), "device_type": device.type, "torch": torch.__version__,
           "cuda": torch.version.cuda, "transformers": transformers.__version__, "diffusers": diffusers.__version__,
           "lerobot": getattr(lerobot, "__version__", "?"), "python": platform.python_version(),
           "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        env.update(device=torch.cuda.get_device_name(device), total_gib=gib(torch.cuda.get_device_properties(device).total_memory),
                   capability=".".join(map(str, torch.cuda.get_device_capability(device))))
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes everywhere (CPU smoke test, < 1 min)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--parts", default=",".join(DEFAULT_ORDER), help=f"comma list, run in order, of {', '.join(PARTS)}")
    parser.add_argument("--precisions", default="bf16,amp", help="comma list of bf16, amp, fp32 (parts 1-3)")
    parser.add_argument("--batch_size", type=int, default=0, help="batch of parts 1-3 (default 8; --tiny: 2)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per model, after one warm-up")
    parser.add_argument("--budget_s", type=float, default=420.0, help="parts not started by then are skipped")
    parser.add_argument("--json", default="", help="also write the JSON here (atomically)")
    parser.add_argument("--fail_part", default="", help="testing: this part raises at its start")
    args = parser.parse_args(argv)
    parts, precisions = ([p.strip() for p in a.split(",") if p.strip()] for a in (args.parts, args.precisions))
    unknown = [p for p in parts if p not in PARTS] + [p for p in precisions if p not in PRECISIONS]
    if unknown:
        parser.error(f"unknown part or precision {unknown}; parts: {', '.join(PARTS)}; precisions: {', '.join(PRECISIONS)}")
    run = Run(torch.device(args.device), args.tiny, precisions, args.batch_size or (2 if args.tiny else 8), args.steps,
              args.budget_s)
    result: dict[str, Any] = {"env": environment(run.device), "tiny": run.tiny, "precisions": precisions}
    failed: list[str] = []
    with stdout_to_stderr():  # libraries print (Rust and C ones too); stdout carries the JSON and nothing else
        for name in parts:
            t0 = time.perf_counter()
            try:
                if name == args.fail_part:
                    raise RuntimeError(f"injected failure (--fail_part={name})")
                run.check_budget()
                entry = globals()[f"part_{name}"](run)
            except Exception as e:
                entry = {"error": error_text(e)}
                failed.append(name)
            failed += [f"{name}/{p}" for p, v in entry.items() if isinstance(v, dict) and "error" in v]
            result[name] = {**entry, "part_s": round(time.perf_counter() - t0, 2)}
            free(run.device)
            print(f"[gpu_check] {name}: {result[name]['part_s']} s{' FAILED' if 'error' in entry else ''}", file=sys.stderr)
    result.update(failed_parts=failed, wall_s=round(time.perf_counter() - T0, 2))
    text = json.dumps(result, indent=2)
    print(text, flush=True)
    if args.json:
        atomic_write_text(args.json, text + "\n")  # a reader never sees half a file
    return 0


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 to 2 meanwhile: Python's ``print`` and also native code's
    (the tokenizers library warns on fd 1 directly, which ``contextlib.redirect_stdout`` cannot catch)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


if __name__ == "__main__":
    sys.exit(main())

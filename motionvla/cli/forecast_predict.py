"""`motionvla forecast predict`: the input, the prompt, the K predicted motion images with arrows (and the
ground truth, for a shard sample), as one PNG."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from motionvla.cli.forecast_data import ForecastDataOptions
from motionvla.errors import UserError


@dataclass
class Config(ForecastDataOptions):
    """Draw a forecaster's prediction for an image (--image) and a prompt, or for a sample of --data shards or of
    --lerobot_root's episodes (--key picks it) beside its ground truth."""

    checkpoint: str = ""  # a forecaster run folder or saved forecaster
    image: str = ""  # an image file (PNG/JPEG); or use --data / --lerobot_root and --key
    previous_image: str = ""  # the frame before --image (a forecaster conditioned on the observed flow needs it)
    prompt: str = ""  # the caption; a sample's own caption when empty
    key: str = ""  # the sample's key: a shard key, or "ep000025-000010" (episode, frame) ("" = the first sample)
    out: str = "outputs/forecast/predict.png"
    num_inference_steps: int = 0
    seed: int = 0


def _arrows(ax, flow: np.ndarray, step: int) -> None:
    h, w = flow.shape[1:]
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    u, v = flow[0, ys, xs], flow[1, ys, xs]
    keep = np.hypot(u, v) > 0.05 * max(np.abs(flow).max(), 1e-6)
    ax.quiver(xs[keep], ys[keep], u[keep], v[keep], color="black", angles="xy", scale_units="xy", scale=0.25, width=0.006)


def draw(frame: np.ndarray, prompt: str, predicted: np.ndarray, images: np.ndarray, out: str,
         truth: np.ndarray | None = None, truth_images: np.ndarray | None = None, max_magnitude: float = 0.0,
         fps: float = 0.0) -> None:
    """``frame`` uint8 HxWx3; ``predicted`` (K, 2, r, r) pixels; ``images`` (K, 3, r, r) uint8. With
    ``max_magnitude`` (the codec scale, pixels at r²) a colour-wheel key is drawn in the last column."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motionvla.flow.visualize import color_wheel
    from motionvla.utils.atomic import atomic_write_bytes

    k = predicted.shape[0]
    rows = 2 if truth is not None else 1
    key = max_magnitude > 0
    cols = k + 1 + int(key)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.6 * rows + 0.6), squeeze=False)
    axes[0, 0].imshow(frame)
    axes[0, 0].set_title("input frame (t)", fontsize=9)

    def when(i: int) -> str:
        return f"t+{i + 1}" + (f" ({(i + 1) / fps:.2g} s)" if fps > 0 else "")

    for i in range(k):
        axes[0, i + 1].imshow(images[i].transpose(1, 2, 0))
        _arrows(axes[0, i + 1], predicted[i], max(2, predicted.shape[-1] // 8))
        axes[0, i + 1].set_title(f"predicted {when(i)}", fontsize=9)
    if truth is not None:
        axes[1, 0].axis("off")
        for i in range(k):
            axes[1, i + 1].imshow(truth_images[i].transpose(1, 2, 0))
            _arrows(axes[1, i + 1], truth[i], max(2, truth.shape[-1] // 8))
            axes[1, i + 1].set_title(f"actual {when(i)}", fontsize=9)
    if key:
        axes[0, -1].imshow(color_wheel(65, max_magnitude))
        axes[0, -1].set_title(f"colour key\n(rim = {max_magnitude:.3g} px)", fontsize=9)
        for row in range(1, rows):
            axes[row, -1].axis("off")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("\n".join(textwrap.wrap(f"prompt: {prompt}", 110)), fontsize=10)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())


def _sample(cfg: Config, frames_in: int, num_flows: int) -> dict:
    """The sample named by ``--key`` (the first one without it) of one --data folder or of --lerobot_root."""
    from motionvla.cli.forecast_data import forecast_samples, split_list

    if (cfg.data and cfg.lerobot_root) or len(split_list(cfg.data)) > 1:
        raise UserError("give one --data folder or --lerobot_root, not several: the sample is drawn from one source")
    samples = forecast_samples(cfg, frames_in, num_flows)
    if not cfg.key:
        return samples[0]
    keys = samples.keys
    if cfg.key not in keys:
        source = cfg.data or f"{cfg.lerobot_root} (episodes {cfg.lerobot_episodes or 'all'})"
        raise UserError(f"--key={cfg.key}: no such sample in {source} (its keys look like {keys[0]!r})")
    return samples[keys.index(cfg.key)]


def run(cfg: Config) -> dict[str, Any]:
    import torch
    from PIL import Image

    from motionvla.flow import flow_to_motion_image
    from motionvla.flow import resize_flows
    from motionvla.cli.forecast_train import forecaster_folder
    from motionvla.flow_forecast.pipeline import FlowForecastPipeline

    if not cfg.checkpoint:
        raise UserError("--checkpoint is required")
    pipe = FlowForecastPipeline.from_pretrained(forecaster_folder(cfg.checkpoint))
    truth = truth_images = None
    if cfg.image:
        def read(path: str, flag: str) -> np.ndarray:
            try:
                return np.asarray(Image.open(path).convert("RGB"))
            except (OSError, ValueError) as err:
                raise UserError(f"--{flag}={path}: cannot read it as an image ({err})") from None

        frame = read(cfg.image, "image")
        frames = [frame]
        previous = [read(cfg.previous_image, "previous_image")] if cfg.previous_image else None
        if previous is None and pipe.model.cfg.past_flows:
            raise UserError("this forecaster is conditioned on the observed flow: give --previous_image=IMG "
                            "(the frame before --image)")
        if not cfg.prompt:
            raise UserError("--prompt is required with --image")
        prompt = cfg.prompt
        stack = None
    elif cfg.data or cfg.lerobot_root:
        sample = _sample(cfg, pipe.model.cfg.frames_in, pipe.model.cfg.num_frames)
        prompt = cfg.prompt or sample["caption"]
        stack = sample["frames"][None].float() / 255.0
        frame = sample["frames"][-1].permute(1, 2, 0).numpy()
        r = pipe.model.cfg.resolution
        truth = resize_flows(sample["flow"][None], r)[0].numpy()
        truth_images = flow_to_motion_image(truth, pipe.model.cfg.flow_max_magnitude)
    else:
        raise UserError("give --image=PATH (with --prompt), --data=SHARDS or --lerobot_root=DATASET [--key=KEY]")
    generator = torch.Generator().manual_seed(cfg.seed)
    if stack is not None:
        flows, images = pipe.model.forecast(stack, [prompt], num_inference_steps=cfg.num_inference_steps or None,
                                            generator=generator, past_flow=sample["past_flow"][None])
        predicted, pred_images = flows[0, 0].numpy(), (images[0, 0].numpy() * 255).round().astype(np.uint8)
    else:
        result = pipe(frames, [prompt], num_inference_steps=cfg.num_inference_steps or None, generator=generator,
                      previous_images=previous)
        predicted, pred_images = result.flows[0, 0], result.motion_images[0, 0]
    draw(frame, prompt, predicted, pred_images, cfg.out, truth, truth_images,
         max_magnitude=pipe.model.cfg.flow_max_magnitude)
    print(f"wrote {cfg.out}")
    return {"out": cfg.out}

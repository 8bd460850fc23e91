"""Write rollout animations and still images for reports (Pillow only: GIFs need no FFmpeg)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageDraw

from motionvla.utils.atomic import atomic_write_bytes


def caption_frame(frame: np.ndarray, text: str, scale: int = 2) -> Image.Image:
    """Upscale ``frame`` (uint8 H×W×3) by ``scale`` and draw ``text`` in a band above it."""
    image = Image.fromarray(frame).resize((frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST)
    band = 14 * max(1, len(text) * 6 // image.width + 1)
    canvas = Image.new("RGB", (image.width, image.height + band), "white")
    canvas.paste(image, (0, band))
    draw = ImageDraw.Draw(canvas)
    # Wrap by character count: the default bitmap font is about 6 px per character.
    per_line = max(8, image.width // 6)
    lines = [text[i : i + per_line] for i in range(0, len(text), per_line)]
    for row, line in enumerate(lines):
        draw.text((3, 1 + 14 * row), line, fill="black")
    return canvas


def write_gif(path: str | Path, frames: Iterable[np.ndarray], text: str, fps: float, scale: int = 2) -> Path:
    """Write uint8 (H, W, 3) frames as a looping GIF with ``text`` drawn above each frame."""
    images = [caption_frame(frame, text, scale) for frame in frames]
    if not images:
        raise ValueError(f"no frames to write to {path}")
    buffer = io.BytesIO()
    images[0].save(
        buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0
    )
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 (H, W, 3) image as PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)

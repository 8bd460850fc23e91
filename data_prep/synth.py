"""Synthetic captioned videos with exact ground-truth optical flow (`motionvla synth-videos`).

Each video shows a textured background and a few striped shapes of distinct named colours; only the
one the caption names moves, in the direction it names, starting at a random onset frame (static
before it, constant velocity after), so neither the picture nor the motion so far tells what moves
next. Optional camera motion (pan, zoom, roll) and unnamed moving distractors make it a benchmark for
camera-motion removal. Rendering and the ground truth are in :mod:`data_prep.synth_render`.

``onset_frame`` is the first frame t whose step to t+1 moves. The mover's speed (``speed_px``, world px per
frame, the same in the view without zoom) is drawn from 1.5-4 px at 256x256, scaled with the size, and
lowered for long videos so that the whole path stays in view; every named object stays fully in view.

Written under ``out`` (``layout`` decides where the videos go)::

    manifest.jsonl            one row per video: id, path (relative to out), caption, synth parameters
    ground_truth/<id>.npz     flows, masks and camera homographies; read with load_ground_truth
    synth_config.json         the resolved config;  README.md  what the files are
    videos/synth_000000.mp4   layout=manifest (videos alternate between the containers in `formats`)
    videos/100.webm + labels.json              layout=ssv2 (Something-Something-V2's labels format)
    move_left/0.mp4 + move_left/0.hdf5         layout=egodex (root attrs llm_description, task; MP4 only)

Reproducibility: video ``i`` is drawn from ``SeedSequence([seed, i])`` alone, so it is the same whatever
``videos`` is, and every file is byte-identical between runs with the same config: x264 and VP9 run on
one thread with fixed options and the muxers in bitexact mode (checked: same bytes, runs apart), and the
``.npz`` is written with fixed zip timestamps (``np.savez_compressed`` stamps the current time).

Speed, measured on a 2-core machine (one process; the higher figures with another job sharing the cores):
``motionvla synth-videos --out=/tmp/sv --overwrite`` (64 videos, 256x256, 32 frames, mp4 + webm, static
camera) takes 18-21 s and writes 8 MB; with ``--camera_motion=pan,zoom,roll --distractors=2`` 23-31 s and
50 MB (a rolling camera's flow compresses least).
"""

from __future__ import annotations

import inspect
import io
import json
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import h5py
import numpy as np
from tqdm import tqdm

from data_prep.synth_render import CAMERA_MOTIONS, COLOURS, DIRECTIONS, caption_for, render_frames, sample_scene
from motionvla.configs.parsing import config_to_dict
from motionvla.errors import UserError
from motionvla.utils.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

FORMATS = ("mp4", "webm")
LAYOUTS = ("manifest", "ssv2", "egodex")
SSV2_FIRST_ID = 100
# One thread and fixed options make the encoders byte-deterministic; bitexact keeps the muxers from
# writing a random segment id (WebM) or version strings.
ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    "mp4": ("libx264", {"threads": "1", "preset": "fast", "crf": "16"}),
    "webm": ("libvpx-vp9", {"threads": "1", "row-mt": "0", "deadline": "realtime", "cpu-used": "8", "crf": "20",
                            "b": "0"}),
}


@dataclass
class SynthVideosConfig:
    """Synthetic captioned videos with ground-truth optical flow: several shapes of distinct colours on a
    textured background; only the one the caption names moves, in the named direction, from a random
    onset frame on ("the red circle moves to the left while the blue square and the green triangle
    stay"). Writes manifest.jsonl, the videos and ground_truth/<id>.npz under `out`.
    """

    out: str = "outputs/synth_videos"
    videos: int = 64
    seed: int = 0
    # Side of the square frames in pixels (even: the videos are yuv420p).
    size: int = 256
    frames: int = 32
    fps: float = 12.0
    # The mover's speed: "" = uniform in 1.5-4 px/frame at 256x256, not named; or adverb:px pairs
    # ("slowly:1.5,quickly:4", px/frame at 256x256, scaled with the size): one is drawn and the caption
    # says it ("moves quickly to the left"), so that the caption alone tells how far the mover goes.
    speeds: str = ""
    # Shapes per video (2..8), each with its own colour; one of them moves.
    objects: int = 3
    # Comma list from pan, zoom, roll; each video with camera motion gets one kind at random. Empty = static.
    camera_motion: str = ""
    # Share of the videos that get camera motion (when camera_motion is given).
    camera_motion_fraction: float = 1.0
    # Extra small grey/brown shapes on random straight paths, never named in the caption.
    distractors: int = 0
    # Containers the videos alternate between (layout=egodex writes MP4 only).
    formats: str = "mp4,webm"
    # manifest | ssv2 (videos/<n>.webm + labels.json) | egodex (<task>/<n>.mp4 + <n>.hdf5).
    layout: str = "manifest"
    overwrite: bool = False

    def __post_init__(self) -> None:
        checks = [
            ("videos", self.videos >= 1, "an integer >= 1"),
            ("seed", self.seed >= 0, "an integer >= 0"),
            ("size", 32 <= self.size <= 4096 and self.size % 2 == 0, "an even number of pixels in 32..4096"),
            ("frames", self.frames >= 2, "an integer >= 2"),
            ("fps", 0 < self.fps <= 1000, "a number of frames per second in (0, 1000]"),
            ("objects", 2 <= self.objects <= len(COLOURS), f"an integer in 2..{len(COLOURS)} (one colour each)"),
            ("camera_motion_fraction", 0.0 <= self.camera_motion_fraction <= 1.0, "a number in [0, 1]"),
            ("distractors", 0 <= self.distractors <= 16, "an integer in 0..16"),
            ("layout", self.layout in LAYOUTS, f"one of {', '.join(LAYOUTS)}"),
        ]
        for name, ok, accepted in checks:
            if not ok:
                raise UserError(f"{name} must be {accepted}, got {getattr(self, name)!r}")
        self.camera_kinds()
        self.format_list()
        self.speed_list()

    def speed_list(self) -> tuple[tuple[str, float], ...]:
        """The named speeds as (adverb, px/frame at 256x256); () = unnamed uniform speeds."""
        pairs = []
        for item in (x.strip() for x in self.speeds.split(",") if x.strip()):
            word, _, value = item.partition(":")
            try:
                px = float(value)
            except ValueError:
                px = -1.0
            if not word.strip().isalpha() or not 0 < px <= 64:
                raise UserError(f"speeds must be a comma list of adverb:px pairs (px/frame at 256x256 in (0, 64]), "
                                f"e.g. 'slowly:1.5,quickly:4'; got {item!r}")
            pairs.append((word.strip(), px))
        if len({w for w, _ in pairs}) != len(pairs):
            raise UserError(f"speeds: each adverb once, got {self.speeds!r}")
        return tuple(pairs)

    def camera_kinds(self) -> tuple[str, ...]:
        """The camera-motion kinds to draw from; () = static camera."""
        kinds = tuple(k.strip() for k in self.camera_motion.split(",") if k.strip() and k.strip() != "none")
        unknown = [k for k in kinds if k not in CAMERA_MOTIONS]
        if unknown:
            raise UserError(f"unknown camera_motion kind(s) {', '.join(unknown)}; accepted: {', '.join(CAMERA_MOTIONS)}"
                            " (comma-separated; empty = static camera)")
        return tuple(dict.fromkeys(kinds))

    def format_list(self) -> tuple[str, ...]:
        """Containers in the order videos alternate between them."""
        if self.layout == "egodex":
            return ("mp4",)
        formats = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in self.formats.split(",") if f.strip()))
        if not formats or any(f not in FORMATS for f in formats):
            raise UserError(f"formats must be a comma list from {', '.join(FORMATS)}, got {self.formats!r}")
        return formats


# `motionvla synth-videos --help` prints the docstring verbatim, so drop the source's indentation.
SynthVideosConfig.__doc__ = inspect.cleandoc(SynthVideosConfig.__doc__ or "")


@dataclass
class GroundTruth:
    """Ground truth of one video of ``T`` frames of ``H x W`` pixels; flows follow the project's convention
    (float32 ``(2, H, W)`` per step, x then y, frame t -> t+1, ``frame1[y + v, x + u] ~ frame0[y, x]``).
    """

    total: np.ndarray  # float32 (T-1, 2, H, W): full motion of the point seen at each pixel
    object: np.ndarray  # float32 (T-1, 2, H, W): total minus the camera's induced flow; 0 on static things
    mover_mask: np.ndarray  # bool (T-1, H, W): pixels of frame t showing the named mover (moving or not yet)
    moving_mask: np.ndarray  # bool (T-1, H, W): pixels of objects that move from t to t+1 (mover, distractors)
    valid_mask: np.ndarray  # bool (T-1, H, W): the point is still visible (not occluded, in view) at t+1
    homographies: np.ndarray  # float64 (T-1, 3, 3): camera motion C_{t+1} C_t^-1 on frame-t pixels (x, y, 1)
    cameras: np.ndarray  # float64 (T, 3, 3): world canvas -> view pixels of each frame
    scene: dict[str, Any]  # what was drawn: objects, mover direction, speed, onset, camera kind and amount

    @property
    def camera(self) -> np.ndarray:
        """float32 (T-1, 2, H, W): the flow the camera alone induces, ``C_{t+1} C_t^-1 (p) - p``."""
        return self.total - self.object


def video_id(index: int) -> str:
    return f"synth_{index:06d}"


def camera_kind_for(cfg: SynthVideosConfig, rng: np.random.Generator) -> str:
    kinds = cfg.camera_kinds()
    moving = rng.random() < cfg.camera_motion_fraction  # drawn even if unused: video i's stream stays put
    return str(kinds[int(rng.integers(len(kinds)))]) if kinds and moving else "none"


def render_video(cfg: SynthVideosConfig, index: int) -> tuple[np.ndarray, GroundTruth, dict[str, Any]]:
    """Renders video ``index`` in memory, writing nothing.

    Returns:
        ``frames``: uint8 RGB ``(T, size, size, 3)`` before any compression; its :class:`GroundTruth`;
        and ``info``: the manifest row without ``path`` (``id``, ``caption``, ``synth``).
    """
    rng_scene, rng_camera, rng_place, rng_look = (np.random.default_rng(s)
                                                  for s in np.random.SeedSequence([cfg.seed, index]).spawn(4))
    scene = sample_scene(cfg.size, cfg.frames, cfg.objects, cfg.distractors, camera_kind_for(cfg, rng_camera),
                         rng_scene, rng_camera, rng_place, cfg.speed_list())
    frames, arrays = render_frames(scene, rng_look)
    caption = caption_for(scene)
    formats = cfg.format_list()
    mover = scene.mover
    synth = {
        "index": index, "mover": {"colour": mover.colour, "shape": mover.shape}, "direction": scene.direction,
        "onset_frame": scene.onset_frame, "speed_px": round(scene.speed_px, 4),
        "speed_word": scene.speed_word, "camera_motion": scene.camera_motion,
        "static": [{"colour": o.colour, "shape": o.shape} for o in scene.named[1:]],
        "distractors": cfg.distractors, "format": formats[index % len(formats)], "fps": cfg.fps, "size": cfg.size,
        "frames": cfg.frames, "seed": cfg.seed,
    }
    info = {"id": video_id(index), "caption": caption, "synth": synth}
    gt = GroundTruth(**arrays, scene={**scene.to_dict(), "id": info["id"], "caption": caption})
    return frames, gt, info


def encode_video(frames: np.ndarray, container: str, fps: float) -> bytes:
    """uint8 RGB ``(T, H, W, 3)`` -> the bytes of an MP4 (H.264) or WebM (VP9) file, yuv420p."""
    codec, options = ENCODERS[container]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(fps))  # a keyframe a second: clips can seek
        stream.options = dict(options)
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return buf.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """What ``np.savez_compressed`` writes (``np.load`` reads it), with a fixed timestamp so equal arrays give
    equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


def ground_truth_bytes(gt: GroundTruth) -> bytes:
    """The ``.npz`` of a video's ground truth: flows as float16 (size), masks bool, matrices float64."""
    return npz_bytes({
        "total": gt.total.astype(np.float16), "object": gt.object.astype(np.float16),
        "mover_mask": gt.mover_mask, "moving_mask": gt.moving_mask, "valid_mask": gt.valid_mask,
        "homographies": gt.homographies, "cameras": gt.cameras, "scene_json": np.array(json.dumps(gt.scene)),
    })


def load_ground_truth(root: str | Path, video_id: str) -> GroundTruth:
    """Reads ``root/ground_truth/<video_id>.npz`` as float32 flows.

    ``video_id`` is the manifest id (``synth_000003``); a layout's own name for the video (``"103"`` in
    ssv2, ``"move_up/0"`` in egodex) or its path relative to ``root`` are looked up in the manifest.
    """
    root = Path(root)
    path = root / "ground_truth" / f"{video_id}.npz"
    if not path.is_file() and (root / "manifest.jsonl").is_file():
        for line in (root / "manifest.jsonl").read_text().splitlines():
            row = json.loads(line)
            if video_id in (row["path"], row["synth"].get("layout_id")):
                path = root / "ground_truth" / f"{row['id']}.npz"
                break
    if not path.is_file():
        raise UserError(f"no ground truth for video {video_id!r} under {root} (expected {path})")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return GroundTruth(
        total=arrays["total"].astype(np.float32), object=arrays["object"].astype(np.float32),
        mover_mask=arrays["mover_mask"], moving_mask=arrays["moving_mask"], valid_mask=arrays["valid_mask"],
        homographies=arrays["homographies"], cameras=arrays["cameras"], scene=json.loads(str(arrays["scene_json"])),
    )


def ssv2_label(info: dict[str, Any]) -> dict[str, Any]:
    """A Something-Something-V2 labels entry: the caption with each named object as a placeholder."""
    synth = info["synth"]
    names = [f"the {o['colour']} {o['shape']}" for o in [synth["mover"], *synth["static"]]]
    template = info["caption"]
    for name in names:
        template = template.replace(name, "[something]", 1)
    return {"id": synth["layout_id"], "label": info["caption"], "template": template, "placeholders": names}


README = """# Synthetic captioned videos with ground-truth optical flow

Written by `motionvla synth-videos` (config: synth_config.json). Only the object the caption names moves, in
the direction it names, at a constant speed from frame `synth.onset_frame` to the next one on (static
before); the others stay. Unnamed grey or brown distractors, if any, move on straight paths.

- manifest.jsonl: one JSON row per video: `id`, `path` (relative to this folder), `caption`, `synth` (the
  mover, direction, onset, speed in px/frame, camera motion, container, fps, size, frames, seed).
- ground_truth/<id>.npz: `total` and `object` flow, float16 (T-1, 2, H, W), pixels, x then y, frame t -> t+1
  (`frame1[y + v, x + u] ~ frame0[y, x]`); `object` is `total` minus the camera's induced flow.
  `mover_mask`, `moving_mask`, `valid_mask` bool (T-1, H, W); `homographies` float64 (T-1, 3, 3) mapping
  frame-t pixels (x, y, 1) to frame t+1; `cameras` (T, 3, 3) world canvas -> view; `scene_json`.
  Load with `data_prep.synth.load_ground_truth(folder, id)` (float32).
"""


def _layout_path(cfg: SynthVideosConfig, info: dict[str, Any], per_task: Counter) -> str:
    synth = info["synth"]
    if cfg.layout == "ssv2":
        synth["layout_id"] = str(SSV2_FIRST_ID + synth["index"])
        return f"videos/{synth['layout_id']}.{synth['format']}"
    if cfg.layout == "egodex":
        task = DIRECTIONS[synth["direction"]][2]
        synth["layout_id"] = f"{task}/{per_task[task]}"
        per_task[task] += 1
        return f"{synth['layout_id']}.mp4"
    synth["layout_id"] = info["id"]
    return f"videos/{info['id']}.{synth['format']}"


def _previous_outputs(out: Path) -> set[Path]:
    """Files a previous run listed in its manifest (removed after an overwrite if not written again)."""
    manifest = out / "manifest.jsonl"
    if not manifest.is_file():
        return set()
    paths: set[Path] = set()
    for line in manifest.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        video = out / row.get("path", "")
        paths |= {video, video.with_suffix(".hdf5"), out / "ground_truth" / f"{row.get('id')}.npz"}
    return paths | {out / "labels.json"}


def synth_videos(cfg: SynthVideosConfig) -> dict[str, Any]:
    """Writes the data set under ``cfg.out``; returns a summary (counts per format and camera motion, seconds).

    Every file is written atomically (temporary file, then rename), so an interrupted run leaves whole
    files only; rerun with ``overwrite`` to regenerate.
    """
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"out {cfg.out!r} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        raise UserError(f"out {cfg.out!r} is not empty; pass --overwrite to regenerate it or choose another --out")
    stale = _previous_outputs(out) if out.is_dir() else set()
    start = time.perf_counter()
    rows, labels, written, per_task = [], [], set(), Counter()
    total_bytes = 0
    for index in tqdm(range(cfg.videos), desc="synth-videos", unit="video"):
        frames, gt, info = render_video(cfg, index)
        rel = _layout_path(cfg, info, per_task)
        row = {"id": info["id"], "path": rel, "caption": info["caption"], "synth": info["synth"]}
        video = encode_video(frames, info["synth"]["format"], cfg.fps)
        gt_file = ground_truth_bytes(gt)
        atomic_write_bytes(out / rel, video)
        atomic_write_bytes(out / "ground_truth" / f"{info['id']}.npz", gt_file)
        written |= {out / rel, out / "ground_truth" / f"{info['id']}.npz"}
        total_bytes += len(video) + len(gt_file)
        if cfg.layout == "egodex":
            buf = io.BytesIO()
            with h5py.File(buf, "w") as annotations:
                annotations.attrs["llm_description"] = info["caption"]
                annotations.attrs["task"] = rel.split("/")[0]
                annotations.attrs["synth_id"] = info["id"]
            atomic_write_bytes((out / rel).with_suffix(".hdf5"), buf.getvalue())
            written.add((out / rel).with_suffix(".hdf5"))
        if cfg.layout == "ssv2":
            labels.append(ssv2_label(info))
        rows.append(row)

    atomic_write_text(out / "manifest.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    if cfg.layout == "ssv2":
        atomic_write_json(out / "labels.json", labels)
        written.add(out / "labels.json")
    atomic_write_json(out / "synth_config.json", config_to_dict(cfg))
    atomic_write_text(out / "README.md", README)
    for path in stale - written:
        path.unlink(missing_ok=True)
    return {
        "out": str(out), "videos": len(rows), "layout": cfg.layout,
        "formats": dict(Counter(row["synth"]["format"] for row in rows)),
        "camera_motion": dict(Counter(row["synth"]["camera_motion"] for row in rows)),
        "directions": dict(Counter(row["synth"]["direction"] for row in rows)),
        "megabytes": round(total_bytes / 1e6, 2), "seconds": round(time.perf_counter() - start, 2),
    }


__all__ = [
    "GroundTruth", "SynthVideosConfig", "encode_video", "load_ground_truth", "render_video", "synth_videos",
]

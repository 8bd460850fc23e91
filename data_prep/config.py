"""The data-prep configuration (``motionvla prep --key=value``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from motionvla.errors import UserError

SOURCES = ("ssv2", "egodex", "manifest")
ENGINES = ("local", "ray")
FLOW_METHODS = ("dis", "farneback", "raft")
RESIZE_MODES = ("crop", "stretch")
# Fields that change no sample: a resumed run may change them. Every other field is part of the output's identity.
RUNTIME_FIELDS = ("workers", "engine", "ray_address", "progress", "decode_timeout_s", "overwrite")


@dataclass
class PrepConfig:
    """Captioned videos -> clips -> optical flow -> relative flow -> filters -> WebDataset shards.

    Sources: ``ssv2`` (``--input`` = the folder of ``<id>.webm`` videos, ``--labels`` = the labels JSON),
    ``egodex`` (``--input`` = a part folder of ``<task>/<n>.mp4`` + ``<n>.hdf5``), ``manifest`` (``--input`` =
    a JSONL or CSV file with ``path``, ``caption``, optional ``id``, ``start``, ``end``). Re-running with the same
    ``--out`` resumes. See docs/data_prep.md.
    """

    source: str = "manifest"
    input: str = ""
    labels: str = ""  # ssv2 only; empty = labels.json beside or above the video folder
    out: str = "outputs/flow_shards"
    # clips
    fps: float = 12.0  # resample to this rate (0 = keep every source frame)
    frames_in: int = 2  # observed frames per sample (the last is t0)
    future: int = 4  # K: future flows t0 -> t0+1 ... t0+K-1 -> t0+K
    stride: int = 4  # frames between consecutive clips' t0
    max_clips_per_video: int = 0  # 0 = every clip; else evenly spaced
    size: int = 256  # stored frames and flows are size x size
    resize: str = "crop"  # centre square crop, or stretch to a square
    # flow
    flow: str = "dis"
    flow_size: int = 0  # 0 = estimate at `size`; else at this size, then resized to `size` with vectors rescaled
    dis_preset: str = "medium"
    # DIS's finest pyramid level: 0 = full resolution (the default: on compressed video, relative flow at the
    # medium preset's own half resolution leaves the object's error at 0.53x the uncompensated one, at full
    # resolution 0.38x; 3.3x the flow time, docs/data_prep.md); -1 = the preset's own (medium 1, fast 2, ultrafast 3).
    dis_finest_scale: int = 0
    raft_weights: str = ""  # a local state-dict file (RAFT only; nothing is downloaded)
    raft_variant: str = "large"
    raft_updates: int = 6
    relative: bool = True  # remove camera motion (homography + RANSAC)
    ransac_threshold_px: float = 1.0
    camera_grid_px: int = 8  # the homography is fitted to the flow sampled every this many pixels
    # filters
    motion_threshold_px: float = 0.5  # a pixel "moves" above this relative-flow magnitude
    min_moving_fraction: float = 0.002  # keep a clip if some future flow has at least this share of moving pixels
    min_inlier_ratio: float = 0.3  # camera fit too poor below this share of RANSAC inliers
    max_camera_residual_px: float = 1.0  # ... or above this median residual of the inliers
    min_caption_chars: int = 3  # captions with fewer letters are unusable
    max_source_pixels: int = 40_000_000  # larger videos are skipped (resolution_too_large)
    # output and execution
    videos_per_shard: int = 16
    workers: int = 1
    engine: str = "local"
    ray_address: str = ""  # empty = a local Ray instance; "auto" or host:port joins a running cluster
    decode_timeout_s: float = 60.0  # a decoder that sends no frame for this long is killed
    progress: bool = True
    overwrite: bool = False  # ignored on resume; refuse a folder holding something else either way

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        choices = {"source": SOURCES, "engine": ENGINES, "flow": FLOW_METHODS, "resize": RESIZE_MODES}
        for name, accepted in choices.items():
            if getattr(self, name) not in accepted:
                raise UserError(f"--{name}={getattr(self, name)!r} is not accepted; use one of {', '.join(accepted)}")
        positive = ("frames_in", "future", "stride", "size", "videos_per_shard", "workers", "raft_updates",
                    "camera_grid_px")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise UserError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("fps", "flow_size", "max_clips_per_video", "motion_threshold_px", "min_moving_fraction",
                     "min_inlier_ratio", "max_camera_residual_px", "min_caption_chars"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.decode_timeout_s <= 0:
            raise UserError(f"--decode_timeout_s must be > 0, got {self.decode_timeout_s}")
        if self.flow == "raft" and not self.raft_weights:
            raise UserError("--flow=raft needs --raft_weights=PATH (a local RAFT state dict; nothing is downloaded)")

    @property
    def estimation_size(self) -> int:
        return self.flow_size or self.size

    def identity(self) -> dict:
        """The fields that determine the samples (compared on resume)."""
        data = dataclasses.asdict(self)
        return {k: v for k, v in data.items() if k not in RUNTIME_FIELDS}

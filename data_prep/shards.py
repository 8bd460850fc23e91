"""Flow samples <-> WebDataset tar members, and shards written atomically.

A sample with key ``k`` is four tar members (WebDataset groups members by the name before the first dot):

- ``k.frames.npy``    uint8 ``(T_in, 3, H, W)`` -- the observed frames, the last one is t0;
- ``k.flow.npy``      float16 ``(K, 2, H, W)`` -- future flow t0+i -> t0+i+1, (relative) pixels / ``flow_scale``;
- ``k.past_flow.npy`` float16 ``(T_in - 1, 2, H, W)`` -- the flow between the observed frames (same units);
- ``k.json``          ``{"caption": str, "meta": {...}}``.

At 256², T_in = 2, K = 4 a sample is 2·3·256² + 5·2·256²·2 bytes + ~1 KB = about 1.7 MB (stats.json reports
the measured bytes per sample). Arrays are ``.npy`` (read with ``allow_pickle=False``), never pickles.

Shards are written with webdataset's ``TarWriter`` at a fixed mtime, so the same samples give the same bytes,
to a temporary file that is renamed into place: a crash never leaves a partial shard.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import webdataset as wds

SAMPLE_MEMBERS = ("frames.npy", "flow.npy", "past_flow.npy", "json")
SHARD_PATTERN = "shard-{:06d}.tar"


def sample_key(video_id: str, t0: int) -> str:
    """A WebDataset-safe key: the id's ASCII letters/digits (no dots) + a hash of the full id + the frame."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", video_id).strip("_")[:48] or "video"
    digest = hashlib.sha1(video_id.encode("utf-8")).hexdigest()[:10]
    return f"{readable}_{digest}-{t0:06d}"


def to_float16(array: np.ndarray) -> np.ndarray:
    """float16 with round-to-nearest-even, the same bits as ``astype(np.float16)`` (tested), through OpenCV:
    numpy converts element by element (2 ms for one 256² sample's flows, against 0.14 ms), and torch would
    start an OpenMP thread pool whose spinning threads steal the other workers' cores."""
    if array.size == 0:  # e.g. no past flow with frames_in = 1 (OpenCV returns None for an empty matrix)
        return np.zeros(array.shape, np.float16)
    flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1, array.shape[-1] if array.ndim else 1)
    return cv2.convertFp16(flat).view(np.float16).reshape(array.shape)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_sample(key: str, frames: np.ndarray, flow: np.ndarray, past_flow: np.ndarray, caption: str,
                  meta: dict, flow_scale: float = 1.0) -> dict:
    """The members of one sample as a webdataset dict (``__key__`` + bytes per extension)."""
    return {
        "__key__": key,
        "frames.npy": _npy(frames.astype(np.uint8, copy=False)),
        "flow.npy": _npy(to_float16(flow / flow_scale)),
        "past_flow.npy": _npy(to_float16(past_flow / flow_scale)),
        "json": json.dumps({"caption": caption, "meta": {**meta, "flow_scale": flow_scale}},
                           ensure_ascii=False, sort_keys=True).encode("utf-8"),
    }


def decode_sample(members: dict[str, bytes]) -> dict:
    """The inverse of :func:`encode_sample`: numpy arrays (flows float32 in pixels), caption and meta."""
    info = json.loads(members["json"].decode("utf-8"))
    scale = float(info["meta"].get("flow_scale", 1.0))

    def load(name: str) -> np.ndarray:
        return np.load(io.BytesIO(members[name]), allow_pickle=False)

    return {
        "frames": load("frames.npy"),
        "flow": load("flow.npy").astype(np.float32) * scale,
        "past_flow": load("past_flow.npy").astype(np.float32) * scale,
        "caption": info["caption"],
        "meta": info["meta"],
    }


class ShardWriter:
    """Writes one shard to ``<path>.<pid>.tmp`` and renames it to ``path`` on :meth:`commit`.

    A shard with no sample is not written at all. Use as a context manager: leaving it without
    :meth:`commit` (an exception) removes the temporary file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._handle = open(self.tmp, "wb")
        # mtime fixed: webdataset stamps the wall clock by default, which would make equal samples differ in bytes.
        self._writer = wds.TarWriter(self._handle, user="motionvla", group="motionvla", mtime=0.0)
        self.samples = 0
        self.bytes = 0

    def write(self, sample: dict) -> None:
        self._writer.write(sample)
        self.samples += 1
        self.bytes += sum(len(v) for k, v in sample.items() if k != "__key__")

    def commit(self) -> bool:
        """Closes the shard and moves it into place; returns False (and leaves nothing) when it is empty."""
        self._writer.close()  # closes the file handle too
        if self.samples == 0:
            self.tmp.unlink(missing_ok=True)
            return False
        with open(self.tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp, self.path)
        return True

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 -- already failing; the temporary file goes either way
            pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.abort()

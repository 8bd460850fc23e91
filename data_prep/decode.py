"""Video decoding for data prep: PyAV, resampled to a target frame rate, square-cropped and resized.

Decoders hang on some bad files (a FIFO never delivers a byte; broken streams can block inside FFmpeg) and can
crash the interpreter on others, so :class:`DecoderProcess` runs :func:`decode_video` in a child process and
kills it when it makes no progress for ``timeout_s``. A hang or a crash then costs one input, never the run.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from dataclasses import dataclass, field

import cv2
import numpy as np

STARTUP_TIMEOUT_S = 120.0  # a decoder process that has not imported PyAV by then is broken
CHUNK_FRAMES = 32  # frames per message from the decoder child; each message is progress for the watchdog


class DecodeFailure(Exception):
    """A video that cannot be used; ``status`` is ``failed`` or ``skipped`` and ``reason`` a short code."""

    def __init__(self, status: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.status, self.reason, self.detail = status, reason, detail


@dataclass(frozen=True)
class DecodeRequest:
    """What to decode: ``path`` between ``start``/``end`` seconds (None = whole video), at ``fps`` (0 = every
    frame), cropped to a centre square (``resize="crop"``) or stretched (``"stretch"``) to ``size`` pixels."""

    path: str
    fps: float
    size: int
    resize: str = "crop"
    start: float | None = None
    end: float | None = None
    max_source_pixels: int = 40_000_000


@dataclass
class DecodedVideo:
    """uint8 RGB ``frames`` ``(N, size, size, 3)``, their times in seconds, and the source's properties."""

    frames: np.ndarray
    times: np.ndarray
    source_width: int
    source_height: int
    source_fps: float
    info: dict = field(default_factory=dict)


def check_file(path: str) -> None:
    """Cheap checks before any decoder touches the file (``os.stat`` never blocks, even on a FIFO)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DecodeFailure("failed", "missing_file", path) from None
    except PermissionError as err:
        raise DecodeFailure("failed", "permission_denied", str(err)) from None
    if stat.S_ISDIR(st.st_mode):
        raise DecodeFailure("failed", "not_a_file", "a directory")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise DecodeFailure("failed", "empty_file", "0 bytes")


def _to_square(rgb: np.ndarray, size: int, resize: str) -> np.ndarray:
    if resize == "crop":
        h, w = rgb.shape[:2]
        side = min(h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        rgb = rgb[y0:y0 + side, x0:x0 + side]
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return np.ascontiguousarray(rgb)
    shrinking = rgb.shape[0] > size
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def iter_decoded_chunks(req: DecodeRequest):
    """Yields ``(frames (n, size, size, 3) uint8, times (n,) float64)`` chunks, then a final ``dict`` of info.

    Resampling keeps, for each target time ``start + k / fps``, the source frame nearest to it.
    Raises :class:`DecodeFailure` with a reason code for anything unusable.
    """
    import av  # imported here so the parent process never loads FFmpeg just to list inputs

    check_file(req.path)
    try:
        container = av.open(req.path, mode="r", timeout=None)
    except av.error.PermissionError as err:
        raise DecodeFailure("failed", "permission_denied", str(err)) from None
    except (av.error.FileNotFoundError, FileNotFoundError):
        raise DecodeFailure("failed", "missing_file", req.path) from None
    except av.error.FFmpegError as err:
        raise DecodeFailure("failed", "not_a_video", " ".join(str(err).split())) from None
    with container:
        if not container.streams.video:
            raise DecodeFailure("failed", "no_video_stream", "the file has no video stream")
        stream = container.streams.video[0]
        # One thread: parallelism comes from the workers (and from decoding ahead of the flow), and FFmpeg's
        # default of a thread per core would oversubscribe the cores the workers already fill.
        stream.codec_context.thread_count = 1
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        if width * height > req.max_source_pixels:
            raise DecodeFailure("skipped", "resolution_too_large",
                                f"{width}x{height} > max_source_pixels={req.max_source_pixels}")
        source_fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        start = req.start or 0.0
        end = req.end if req.end is not None else float("inf")
        step = 1.0 / req.fps if req.fps > 0 else 0.0
        next_t = start
        prev: tuple[float, object] | None = None
        buf: list[np.ndarray] = []
        times: list[float] = []
        decoded = 0

        def take(frame_time: float, frame) -> None:
            buf.append(_to_square(frame.to_ndarray(format="rgb24"), req.size, req.resize))
            times.append(frame_time)

        try:
            for frame in container.decode(stream):
                decoded += 1
                t = float(frame.time) if frame.time is not None else decoded / max(source_fps, 1.0)
                if t < start - 1e-6:
                    prev = (t, frame)
                    continue
                if t > end + 1e-6:
                    break
                if step == 0.0:
                    take(t, frame)
                else:
                    while next_t <= t + 1e-9 and next_t <= end:
                        use_prev = prev is not None and abs(next_t - prev[0]) < abs(t - next_t)
                        take(next_t, prev[1] if use_prev else frame)
                        next_t = start + len(times) * step
                    prev = (t, frame)
                if len(buf) >= CHUNK_FRAMES:
                    yield np.stack(buf), np.asarray(times[-len(buf):])
                    buf = []
        except av.error.FFmpegError as err:
            raise DecodeFailure("failed", "decode_error", " ".join(str(err).split())) from None
        if buf:
            yield np.stack(buf), np.asarray(times[-len(buf):])
        if decoded == 0:
            raise DecodeFailure("failed", "decode_error", "no frame could be decoded")
        yield {"source_width": width, "source_height": height, "source_fps": source_fps,
               "source_frames_decoded": decoded}


def decode_video(req: DecodeRequest) -> DecodedVideo:
    """Decodes in this process (no timeout). See :func:`iter_decoded_chunks`."""
    frames, times, info = [], [], {}
    for item in iter_decoded_chunks(req):
        if isinstance(item, dict):
            info = item
        else:
            frames.append(item[0])
            times.append(item[1])
    return _assemble(req, frames, times, info)


def _assemble(req: DecodeRequest, frames: list, times: list, info: dict) -> DecodedVideo:
    stacked = np.concatenate(frames) if frames else np.zeros((0, req.size, req.size, 3), np.uint8)
    return DecodedVideo(stacked, np.concatenate(times) if times else np.zeros(0), info.get("source_width", 0),
                        info.get("source_height", 0), info.get("source_fps", 0.0), info)


def die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies, so no orphan outlives a killed run."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _decoder_main() -> None:
    """The child's loop: requests arrive on stdin, replies leave on the original stdout (``print`` and FFmpeg
    logs go to stderr, so nothing else can land in the reply stream)."""
    die_with_parent()
    cv2.setNumThreads(1)
    import av  # noqa: F401 -- loaded now, while the worker warms up, not on the first video

    reply_fd = os.dup(1)
    os.dup2(2, 1)
    requests, conn = Connection(0, writable=False), Connection(reply_fd, readable=False)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            req = requests.recv()
        except EOFError:
            return
        if req is None:
            return
        frames, times = [], []
        try:
            for item in iter_decoded_chunks(req):
                if isinstance(item, dict):
                    # One message at the end: the child finishes decoding without waiting for the parent to
                    # read (a pipe holds 64 KB), which is what lets it decode the next video ahead.
                    conn.send(("done", (frames, times, item)))
                else:
                    frames.append(item[0])
                    times.append(item[1])
                    conn.send(("progress", len(item[0])))  # a few bytes: the watchdog's sign of life
        except DecodeFailure as fail:
            conn.send(("fail", (fail.status, fail.reason, fail.detail)))
        except Exception as err:  # noqa: BLE001 -- any decoder surprise is this input's failure, not the run's
            conn.send(("fail", ("failed", "decode_error", f"{type(err).__name__}: {err}")))


class DecoderProcess:
    """A long-lived child process that decodes one video at a time, restarted after a hang or a crash.

    ``submit(req, timeout_s)`` starts decoding (so the child decodes the next video while the caller computes
    on this one); ``result()`` waits for it. ``decode`` = both. Failures raise :class:`DecodeFailure`:
    ``decode_timeout`` when the child shows no progress for ``timeout_s`` seconds (it is then killed),
    ``decoder_crashed`` when it dies.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None  # replies from the child
        self._requests: Connection | None = None
        self._collector: tuple[threading.Thread, dict] | None = None
        self._early_failure: DecodeFailure | None = None

    def _start(self) -> None:
        # A fresh interpreter running this module, not a multiprocessing child: it never re-imports the
        # caller's __main__ (which breaks for stdin scripts and re-runs unguarded ones), and it never forks a
        # process that may hold threads (tqdm, torch, OpenCV).
        self._proc = subprocess.Popen([sys.executable, "-m", "data_prep.decode"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, close_fds=True)
        self._requests = Connection(os.dup(self._proc.stdin.fileno()), readable=False)
        self._conn = Connection(os.dup(self._proc.stdout.fileno()), writable=False)
        self._proc.stdin.close()
        self._proc.stdout.close()
        try:  # wait until it has imported FFmpeg: start-up belongs to warm-up, not to the first video
            ready = self._conn.poll(STARTUP_TIMEOUT_S) and self._conn.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            code = self._proc.poll()
            self._kill()
            raise DecodeFailure("failed", "decoder_crashed", f"the decoder process did not start (exit {code})")

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=5)
        for conn in (self._conn, self._requests):
            if conn is not None:
                conn.close()
        self._proc = self._conn = self._requests = None

    def ensure_started(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._start()

    def submit(self, req: DecodeRequest, timeout_s: float) -> None:
        """Starts decoding ``req``; a thread of this process collects the reply as it arrives, so the frames
        cross the pipe while the caller computes, not when it asks for them."""
        if self._collector is not None or self._early_failure is not None:
            raise RuntimeError("DecoderProcess.submit: collect the previous result first")
        try:
            check_file(req.path)  # cheap failures need no round trip
        except DecodeFailure as fail:
            self._early_failure = fail
            return
        self.ensure_started()
        try:
            self._requests.send(req)
        except (BrokenPipeError, OSError):  # the child died while idle: a new one takes the request
            self._kill()
            self._start()
            self._requests.send(req)
        box: dict = {}
        self._collector = (threading.Thread(target=self._collect, args=(req, timeout_s, box), daemon=True), box)
        self._collector[0].start()

    def _collect(self, req: DecodeRequest, timeout_s: float, box: dict) -> None:
        conn = self._conn
        try:
            while True:
                if not conn.poll(timeout_s):
                    box["failure"] = DecodeFailure("failed", "decode_timeout",
                                                   f"no progress for {timeout_s:g} s; decoder killed")
                    box["kill"] = True
                    return
                kind, payload = conn.recv()
                if kind == "done":
                    box["video"] = _assemble(req, *payload)
                    return
                if kind == "fail":
                    box["failure"] = DecodeFailure(*payload)
                    return
        except (EOFError, OSError):
            box["failure"] = DecodeFailure("failed", "decoder_crashed", "the decoder process died")
            box["kill"] = True

    def result(self) -> DecodedVideo:
        """The submitted video's frames; raises :class:`DecodeFailure` (the child is killed and restarted
        lazily after a timeout or a crash)."""
        if self._early_failure is not None:
            fail, self._early_failure = self._early_failure, None
            raise fail
        if self._collector is None:
            raise RuntimeError("DecoderProcess.result: nothing was submitted")
        (thread, box), self._collector = self._collector, None
        thread.join()
        if box.get("kill"):
            code = self._proc.poll() if self._proc is not None else None
            self._kill()
            if box["failure"].reason == "decoder_crashed":
                box["failure"] = DecodeFailure("failed", "decoder_crashed", f"decoder exited with {code}")
        if "failure" in box:
            raise box["failure"]
        return box["video"]

    def decode(self, req: DecodeRequest, timeout_s: float) -> DecodedVideo:
        self.submit(req, timeout_s)
        return self.result()

    def close(self) -> None:
        if self._requests is not None:
            try:
                self._requests.send(None)
                self._proc.wait(timeout=2)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __enter__(self) -> DecoderProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    _decoder_main()

__all__ = ["DecodeFailure", "DecodeRequest", "DecodedVideo", "DecoderProcess", "check_file", "decode_video",
           "die_with_parent", "iter_decoded_chunks"]

"""Measure a process's peak resident memory over a region of code (Linux), for CPU benchmarks.

torch has no peak-memory counter for CPU tensors, so we read the kernel's: ``VmHWM`` in
``/proc/self/status`` is the peak resident set size, and writing ``5`` to ``/proc/self/clear_refs``
resets it to the current size. Large tensors must really be returned to the kernel when freed for
the figure to mean "this region's peak": start the process with ``MALLOC_MMAP_THRESHOLD_=65536`` so
glibc serves them with mmap (the benchmark launcher does this).
"""

from __future__ import annotations

from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in {_STATUS}")


def peak_memory_supported() -> bool:
    """True where the peak can be reset and read (Linux with /proc)."""
    try:
        _CLEAR_REFS.write_text("5")
        _status_kib("VmHWM")
        return True
    except (OSError, RuntimeError):
        return False


class PeakMemory:
    """Context manager: ``peak_bytes`` = peak RSS inside the block minus RSS when it started."""

    def __enter__(self) -> "PeakMemory":
        _CLEAR_REFS.write_text("5")
        self._start_kib = _status_kib("VmRSS")
        self.peak_bytes = 0
        return self

    def __exit__(self, *exc) -> None:
        self.peak_bytes = max(0, _status_kib("VmHWM") - self._start_kib) * 1024

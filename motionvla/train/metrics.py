"""Training logs: ``metrics.jsonl`` + ``metrics.csv`` in the output folder, and optionally Weights & Biases.

Rows are window means over ``log_every`` steps. On resume, rows past the checkpoint's step (logged
after it, then lost with the crash) are dropped first, so the files read as one uninterrupted run.
wandb is optional: not installed, or failing to start, means a warning and local logs only.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

from motionvla.utils.atomic import atomic_write_text

JSONL, CSV = "metrics.jsonl", "metrics.csv"


def read_metrics(output_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (an empty list if there is none)."""
    path = Path(output_dir) / JSONL
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a half-written last line from a crash
                break
    return rows


def _csv_text(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


class MetricsLogger:
    """Writes metric rows (main process only; other processes get a logger with ``enabled=False``)."""

    def __init__(self, output_dir: str | Path, *, enabled: bool = True, resume_step: int | None = None,
                 wandb_run: Any = None) -> None:
        self.dir, self.enabled, self.wandb_run = Path(output_dir), enabled, wandb_run
        self.rows: list[dict[str, Any]] = []
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            self.rows = [r for r in read_metrics(self.dir) if int(r.get("step", 0)) <= resume_step]
        self._rewrite()

    def _rewrite(self) -> None:
        atomic_write_text(self.dir / JSONL, "".join(json.dumps(r) + "\n" for r in self.rows))
        atomic_write_text(self.dir / CSV, _csv_text(self.rows) if self.rows else "")

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.rows.append(row)
        with open(self.dir / JSONL, "a") as f:
            f.write(json.dumps(row) + "\n")
        # The CSV's columns may grow, so it is rewritten (small: one row per log_every steps).
        atomic_write_text(self.dir / CSV, _csv_text(self.rows))
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in row.items() if k != "step"}, step=int(row["step"]))

    def close(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None


def start_wandb(project: str, mode: str, output_dir: str | Path, run_config: dict[str, Any], resume_id: str | None = None) -> Any:
    """A wandb run, or None (with a warning) if wandb is missing or cannot start.

    ``mode="auto"``: ``$WANDB_MODE`` if set, else online when an API key is configured, else offline.
    """
    try:
        import wandb
    except ImportError:
        warnings.warn("wandb is not installed; logging to metrics.jsonl/csv only (pip install wandb)", stacklevel=2)
        return None
    if mode == "auto":
        mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") or _netrc_has_wandb() else "offline")
    try:
        return wandb.init(project=project, mode=mode, dir=str(output_dir), config=run_config,
                          id=resume_id, resume="allow" if resume_id else None)
    except Exception as exc:  # noqa: BLE001 - logging must never stop training
        warnings.warn(f"wandb did not start ({type(exc).__name__}: {exc}); logging locally only", stacklevel=2)
        return None


def _netrc_has_wandb() -> bool:
    netrc = Path.home() / ".netrc"
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")

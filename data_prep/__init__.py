"""Web-video data preparation: captioned videos -> clips -> relative optical flow -> WebDataset shards.

Never imports the models; uses :mod:`motionvla.flow` for flow and camera-motion removal. Entry points:
:func:`run_prep` (``motionvla prep``), :class:`FlowShardDataset` (read the shards for training),
:mod:`data_prep.synth` (``motionvla synth-videos``, synthetic captioned videos with ground-truth flow).

Names are imported lazily: the decoder child processes import :mod:`data_prep.decode` alone, without torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "PrepConfig": "data_prep.config",
    "FlowShardDataset": "data_prep.reader",
    "collate_flow_samples": "data_prep.reader",
    "read_sample": "data_prep.reader",
    "shard_paths": "data_prep.reader",
    "run_prep": "data_prep.runner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'data_prep' has no attribute {name!r}")

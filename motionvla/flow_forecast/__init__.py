"""The language-conditioned future-flow forecaster (VLM + diffusion transformer).

Public names, imported on first use (PEP 562) so that importing one submodule does not build the others:

    from motionvla.flow_forecast import FlowForecastPipeline
    pipe = FlowForecastPipeline.from_pretrained("outputs/forecaster")  # a run folder or its pretrained_model
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FlowForecastPipeline": "motionvla.flow_forecast.pipeline",
    "FlowForecaster": "motionvla.flow_forecast.modeling",
    "ForecasterConfig": "motionvla.flow_forecast.configuration",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

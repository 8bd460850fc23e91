"""The names users import from the package, not from its files."""

import pytest


def test_forecaster_names_at_the_package():
    import motionvla.flow_forecast as ff
    from motionvla.flow_forecast import FlowForecaster, FlowForecastPipeline, ForecasterConfig
    from motionvla.flow_forecast.configuration import ForecasterConfig as config_class
    from motionvla.flow_forecast.modeling import FlowForecaster as model_class
    from motionvla.flow_forecast.pipeline import FlowForecastPipeline as pipeline_class

    assert (FlowForecastPipeline, FlowForecaster, ForecasterConfig) == (pipeline_class, model_class, config_class)
    assert ff.__all__ == ["FlowForecastPipeline", "FlowForecaster", "ForecasterConfig"]
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        ff.Nope  # noqa: B018

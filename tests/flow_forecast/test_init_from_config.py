"""--init_from: the saved forecaster fixes the shapes; the command line may change only training-only knobs."""

import dataclasses

import pytest

from motionvla.cli.forecast_train import adapted_model_config
from motionvla.errors import UserError
from motionvla.flow_forecast.configuration import ForecasterConfig

SAVED = ForecasterConfig(resolution=16, hidden_size=32, moving_weight=40.0, one_step_fraction=0.5,
                         flow_max_magnitude=1.25, grounding_maps=4)


def test_saved_config_is_kept_when_the_command_line_gives_nothing():
    assert adapted_model_config(SAVED, ForecasterConfig(), remeasure_flow_scale=False) == SAVED


def test_training_only_knobs_from_the_command_line_replace_the_saved_ones():
    given = ForecasterConfig(moving_weight=10.0, one_step_fraction=0.25)
    adapted = adapted_model_config(SAVED, given, remeasure_flow_scale=False)
    assert (adapted.moving_weight, adapted.one_step_fraction) == (10.0, 0.25)
    assert dataclasses.replace(adapted, moving_weight=40.0, one_step_fraction=0.5) == SAVED  # nothing else moved


def test_remeasure_flow_scale_clears_the_saved_scale():
    assert adapted_model_config(SAVED, ForecasterConfig(), remeasure_flow_scale=True).flow_max_magnitude == 0.0


def test_a_shape_option_that_contradicts_the_saved_model_is_refused_by_name():
    with pytest.raises(UserError, match=r"--model\.resolution.*--model\.moving_weight"):
        adapted_model_config(SAVED, ForecasterConfig(resolution=64), remeasure_flow_scale=False)
    # repeating the saved value is not a contradiction
    assert adapted_model_config(SAVED, ForecasterConfig(resolution=16), remeasure_flow_scale=False) == SAVED


def test_a_knob_named_on_the_command_line_can_be_set_back_to_its_default():
    from motionvla.cli.forecast_train import Config
    from motionvla.configs import given_keys, parse_config

    cfg = parse_config(Config, ["--init_from=RUN", "--model.moving_weight=0", "--model.resolution=16"])
    names = frozenset(k.split(".", 1)[1] for k in given_keys(cfg) if k.startswith("model."))
    assert names == {"moving_weight", "resolution"}
    adapted = adapted_model_config(SAVED, cfg.model, remeasure_flow_scale=False, given_names=names)
    assert adapted.moving_weight == 0.0 and adapted.one_step_fraction == 0.5  # named -> taken; unnamed -> kept
    # a shape option named with the default value still contradicts the saved model's 16
    with pytest.raises(UserError, match=r"--model\.resolution"):
        adapted_model_config(SAVED, ForecasterConfig(), remeasure_flow_scale=False,
                             given_names=frozenset({"resolution"}))


def test_a_config_built_in_code_has_no_record_of_given_keys():
    from motionvla.cli.forecast_train import Config
    from motionvla.configs import given_keys

    assert given_keys(Config()) is None

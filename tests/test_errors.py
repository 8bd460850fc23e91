"""One CheckpointError: a bad training checkpoint, forecaster folder or policy folder all raise the same class."""

import pytest

from motionvla.errors import CheckpointError, UserError


def test_every_checkpoint_loader_raises_the_one_class(tmp_path):
    from motionvla.flow_forecast.pipeline import FlowForecastPipeline
    from motionvla.policy import MotionVLAPolicy
    from motionvla.train.checkpoint import load_checkpoint

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no meta.json"):
        load_checkpoint(empty)
    with pytest.raises(CheckpointError, match="missing"):
        FlowForecastPipeline.from_pretrained(empty)
    with pytest.raises(CheckpointError, match="checkpoint lacks"):
        MotionVLAPolicy.from_pretrained(empty)
    assert issubclass(CheckpointError, UserError)  # the CLI prints it as one line, exit 2


def test_the_policies_export_the_same_class():
    from motionvla.policy import CheckpointError as policy_error
    from motionvla.policy.pi05_motion.modeling_pi05_motion import CheckpointError as pi05_error

    assert policy_error is CheckpointError and pi05_error is CheckpointError

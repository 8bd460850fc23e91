"""What the policy needs from a dataset, checked once for both trainers.

- :func:`check_dataset_features`: the features the policy reads, or a one-line error naming the missing ones
  (``motionvla train`` calls it on the dataset, renamed; the policy calls it when lerobot's ``make_policy``
  builds it from a dataset's metadata, as ``lerobot-train`` does).
- :func:`adapt_to_dataset`: the policy-construction hook for lerobot's ``make_policy(..., ds_meta)``: the
  feature check, and the motion codec's scale measured from the dataset's flows when it is 0 ("measure"),
  as ``motionvla train`` measures it from its flow cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from motionvla.keys import ACTION_KEY, IMAGE_KEY_PREFIX, STATE_KEY
from motionvla.datasets.flow_scale import SCALE_EPISODES  # noqa: F401 -- named in the docstring below
from motionvla.errors import UserError
from motionvla.policy.configuration_motionvla import MotionVLAConfig



def missing_features(names: Iterable[str]) -> list[str]:
    """Which of the features the policy reads (a camera, state, action) are absent from ``names``."""
    names = list(names)
    missing = [k for k in (STATE_KEY, ACTION_KEY) if k not in names]
    if not any(k.startswith(IMAGE_KEY_PREFIX) for k in names):
        missing.append(f"{IMAGE_KEY_PREFIX}<camera>")
    return missing


def check_dataset_features(names: Iterable[str], source: str, hint: str = "") -> None:
    """Raise a one-line :class:`UserError` naming the features the policy needs that ``names`` lacks."""
    names = list(names)
    missing = missing_features(names)
    if missing:
        raise UserError(
            f"dataset {source} lacks feature(s) {', '.join(missing)}; the motionvla policy needs "
            f"{IMAGE_KEY_PREFIX}<camera>, {STATE_KEY} and {ACTION_KEY} (it has: {', '.join(names)}){hint}"
        )


def adapt_to_dataset(config: MotionVLAConfig, dataset_meta: Any) -> None:
    """Check ``dataset_meta`` has what the policy reads and, for a motion head with ``flow_max_magnitude``
    0, set the codec scale to the ``flow_scale_percentile``-th percentile of the flows of
    :data:`SCALE_EPISODES` episodes spread over the dataset (so it is saved with the checkpoint's config)."""
    source = str(getattr(dataset_meta, "repo_id", "?"))
    names = list(dataset_meta.features)
    check_dataset_features(names, source, hint="; map other names with --rename_map")
    if config.motion_weight <= 0 or config.flow_max_magnitude > 0:
        return
    from motionvla.datasets.flow_scale import measure_config_flow_scale

    camera = config.flow_camera()
    if camera not in names:  # the policy's camera has another name in the dataset (a rename map)
        raise UserError(f"cannot measure the flow scale: dataset {source} has no {camera}; "
                        f"set --policy.flow_max_magnitude (pixels at motion_resolution)")
    measure_config_flow_scale(config, dataset_meta, camera, "motionvla")

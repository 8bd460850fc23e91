"""Start a pi05_motion fine-tune from a π0.5 checkpoint: write a folder ``lerobot-train`` can start from.

``lerobot-train --policy.type=pi05_motion --policy.pretrained_path=P`` loads the *weights* from P and the
*pre/post-processors* from P too. A π0.5 checkpoint's pre-processor (``lerobot/pi05_base``) has no flow-target
step, so the motion head would get no targets. This writes P: the π0.5 weights loaded into pi05_motion (the
motion head freshly initialised), its config, and lerobot's π0.5 processors built for the dataset with our
flow-target step in place (lerobot-train then overrides their statistics, device and rename map as usual).

    python -m motionvla.policy.pi05_motion.init_from_pi05 --pretrained=lerobot/pi05_base \
        --dataset.repo_id=lerobot/libero --output_dir=outputs/pi05_motion_init [--empty_cameras=1 --motion_frames=4 ...]

The motion settings given here are baked into the saved flow-target step: pass lerobot-train the same ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lerobot.configs import FeatureType
from lerobot.utils.feature_utils import dataset_to_policy_features

from motionvla.configs.parsing import apply_aliases
from motionvla.policy.pi05_motion.configuration_pi05_motion import PI05MotionConfig

# Config fields settable from the command line, with their types; they shape the saved processors.
OPTIONS: dict[str, type] = {"motion_frames": int, "motion_resolution": int, "flow_stride": int, "flow_method": str,
                            "motion_camera": str, "empty_cameras": int, "tokenizer_max_length": int,
                            "chunk_size": int, "n_action_steps": int, "dtype": str}


def config_for_dataset(features: dict[str, dict], **overrides: Any) -> PI05MotionConfig:
    """A pi05_motion config with a LeRobotDataset's features (``meta.features``), as lerobot's make_policy sets them."""
    config = PI05MotionConfig(**overrides)
    policy_features = dataset_to_policy_features(features)
    config.output_features = {k: f for k, f in policy_features.items() if f.type is FeatureType.ACTION}
    config.input_features = {k: f for k, f in policy_features.items() if k not in config.output_features}
    return config


def init_from_pi05(pretrained: str, dataset_features: dict[str, dict], dataset_stats: dict | None, out: str | Path,
                   **overrides: Any) -> Path:
    """Load π0.5 weights ``pretrained`` (hub id or folder) into pi05_motion and save policy + processors to ``out``.

    Args:
        dataset_features / dataset_stats: the training dataset's ``meta.features`` / ``meta.stats``.
        overrides: :class:`PI05MotionConfig` fields (motion settings, ``empty_cameras``, ...).
    """
    from motionvla.policy.pi05_motion.modeling_pi05_motion import PI05MotionPolicy
    from motionvla.policy.pi05_motion.processor_pi05_motion import make_pi05_motion_pre_post_processors

    config = config_for_dataset(dataset_features, **overrides)
    policy = PI05MotionPolicy.from_pretrained(pretrained, config=config)
    pre, post = make_pi05_motion_pre_post_processors(config, dataset_stats)
    out = Path(out)
    policy.save_pretrained(out)
    pre.save_pretrained(out)
    post.save_pretrained(out)
    return out


# The names used before lerobot's: one release of deprecation notes, through the parser's alias mechanism.
OLD_NAMES = {"repo_id": "dataset.repo_id", "root": "dataset.root", "out": "output_dir"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with lerobot-train's names for what both have (``--dataset.repo_id``, ``--dataset.root``,
    ``--output_dir``); the old names still work with one note each on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", default="lerobot/pi05_base", help="π0.5 checkpoint: hub id or folder")
    parser.add_argument("--dataset.repo_id", dest="repo_id", required=True,
                        help="the LeRobotDataset to fine-tune on (its features, stats)")
    parser.add_argument("--dataset.root", dest="root", default=None, help="local root of that dataset")
    parser.add_argument("--output_dir", dest="out", required=True,
                        help="folder to write (then --policy.pretrained_path=OUTPUT_DIR)")
    for name, kind in OPTIONS.items():
        parser.add_argument(f"--{name}", type=kind, default=None)
    argv, notes = apply_aliases(sys.argv[1:] if argv is None else argv, OLD_NAMES)
    for note in notes:
        print(f"init_from_pi05: {note}", file=sys.stderr)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    from lerobot.datasets import LeRobotDatasetMetadata

    meta = LeRobotDatasetMetadata(args.repo_id, root=args.root)
    overrides = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    out = init_from_pi05(args.pretrained, meta.features, meta.stats, args.out, **overrides)
    print(f"wrote {out}: train with --policy.type=pi05_motion --policy.pretrained_path={out}")
    return out


if __name__ == "__main__":
    main()

"""``train_config.json``: a `motionvla train` run's resolved options as lerobot-train's own ``TrainPipelineConfig``.

Written into every checkpoint's ``pretrained_model/`` (where lerobot-train writes it), so that
``lerobot-train --resume=true --config_path=RUN/checkpoints/last/pretrained_model/train_config.json`` continues a
run of ours, and so that the two trainers' resolved configs can be compared file to file. What only our loop has
(EMA, precision, accumulation, preloading) is not in it: lerobot has no name for it (``config.json`` of the run
folder keeps everything).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from motionvla.flow_forecast.lerobot_data import parse_episodes
from motionvla.train.prepare import PolicyTrainConfig


def lerobot_train_config(cfg: PolicyTrainConfig, total_episodes: int) -> Any:
    """lerobot's ``TrainPipelineConfig`` for ``cfg`` (resolved: after :func:`motionvla.train.prepare.prepare`),
    with the optimizer and scheduler the policy's presets give, as lerobot-train's ``validate()`` sets them.

    ``total_episodes``: the dataset's episode count, to write ``--dataset.episodes`` as lerobot's list of indices.
    """
    from lerobot.configs.default import DatasetConfig, WandBConfig
    from lerobot.configs.train import TrainPipelineConfig

    episodes = parse_episodes(cfg.dataset.episodes, total_episodes) if cfg.dataset.episodes.strip() else None
    mode = None if cfg.wandb.mode == "auto" else cfg.wandb.mode  # lerobot's None = wandb's own default
    train_cfg = TrainPipelineConfig(
        # video_backend given: our trainer decodes with pyav (policy_data.open_dataset), and lerobot's default
        # probes torchcodec, which prints a page of loader tracebacks wherever FFmpeg's shared libraries are absent.
        dataset=DatasetConfig(repo_id=cfg.dataset.repo_id, root=cfg.dataset.root or None, episodes=episodes,
                              video_backend="pyav"),
        policy=cfg.policy, output_dir=Path(cfg.output_dir), job_name=cfg.policy.type, resume=cfg.resume,
        seed=cfg.seed, num_workers=cfg.num_workers, batch_size=cfg.batch_size, steps=cfg.steps,
        log_freq=cfg.log_freq, save_freq=cfg.save_freq, wandb=WandBConfig(enable=cfg.wandb.enable,
                                                                           project=cfg.wandb.project, mode=mode),
        rename_map=dict(cfg.rename_map), use_policy_training_preset=True)
    train_cfg.optimizer = cfg.policy.get_optimizer_preset()
    train_cfg.scheduler = cfg.policy.get_scheduler_preset()
    return train_cfg

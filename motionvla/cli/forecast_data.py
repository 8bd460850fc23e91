"""Where `motionvla forecast train|eval|predict` take their samples: prep shard folders and/or a
LeRobotDataset's own future flows (one set of options, one loader)."""

from __future__ import annotations

from dataclasses import dataclass

from motionvla.errors import UserError


@dataclass
class ForecastDataOptions:
    """The sample sources shared by the forecast commands."""

    # `motionvla prep` output folders, comma-separated.
    data: str = ""
    # A LeRobotDataset whose own future flows to use too (or instead): its folder, repo id, camera, episodes.
    lerobot_root: str = ""
    lerobot_repo_id: str = "local/quickstart"
    lerobot_camera: str = "front"
    lerobot_episodes: str = ""  # e.g. ":150" to train, "150:" for a held-out tail; see flow_forecast.lerobot_data
    lerobot_size: int = 64  # side of its frames and flows in the samples


def split_list(text: str) -> list[str]:
    """The non-empty items of a comma-separated option."""
    return [part.strip() for part in text.split(",") if part.strip()]


def forecast_samples(cfg: ForecastDataOptions, frames_in: int, num_flows: int, weights: list[float] | None = None):
    """The prep shards of ``cfg.data`` and/or the LeRobotDataset of ``cfg.lerobot_root`` (``frames_in`` frames
    and ``num_flows`` future flows per sample), mixed."""
    from motionvla.flow_forecast.training import WeightedMixture, open_shard_folders

    parts = []
    if split_list(cfg.data):
        parts.append(open_shard_folders(split_list(cfg.data), weights))
    if cfg.lerobot_root:
        from motionvla.flow_forecast.lerobot_data import LeRobotFlowSamples

        parts.append(LeRobotFlowSamples(cfg.lerobot_root, cfg.lerobot_repo_id, camera=cfg.lerobot_camera,
                                        frames_in=frames_in, num_flows=num_flows,
                                        size=cfg.lerobot_size, episodes=cfg.lerobot_episodes))
    if not parts:
        raise UserError("give --data (prep shard folders) and/or --lerobot_root (a LeRobotDataset)")
    return parts[0] if len(parts) == 1 else WeightedMixture(parts, [1.0] * len(parts))

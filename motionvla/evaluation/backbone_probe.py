"""Does the motion head shape the backbone? A linear probe on frozen backbone features (issue 25, "through what?").

1. :func:`record_probe_frames` rolls the tabletop's scripted expert on env seeds no policy trained on and keeps,
   every ``every`` steps, the policy's observation and the manipulated object's displacement over the next
   ``horizon`` control steps (metres, from the simulator's state).
2. :func:`backbone_features` runs a checkpoint's pre-processor and backbone on those observations and mean-pools
   the hidden states (masked) into one vector per frame.
3. :func:`probe_r2` fits a ridge regression features → displacement on some episodes and scores R² on the others
   (folds split by episode, so frames of one episode never sit on both sides).

The ridge is ten lines of linear algebra (``scipy.linalg.solve``); scikit-learn's ``RidgeCV`` would add a large
dependency for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg

PROBE_FILE = "probe_frames.npz"


@dataclass
class ProbeFrames:
    """Observations and targets: ``images[cam] (N, H, W, 3) uint8``, ``state (N, S)``, ``tasks`` N instructions,
    ``displacement (N, 3)`` metres over ``horizon`` steps, ``episode (N,)`` ids for the folds."""

    images: dict[str, np.ndarray]
    state: np.ndarray
    tasks: list[str]
    displacement: np.ndarray
    episode: np.ndarray
    horizon: int

    def save(self, path: str | Path) -> None:
        """``.npz`` (no pickle); written to a temporary name and renamed, so a crash leaves no half file."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, state=self.state, tasks=np.array(self.tasks), displacement=self.displacement,
                            episode=self.episode, horizon=np.array(self.horizon),
                            **{f"image_{cam}": img for cam, img in self.images.items()})
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> ProbeFrames:
        with np.load(path, allow_pickle=False) as data:
            images = {k.removeprefix("image_"): data[k] for k in data.files if k.startswith("image_")}
            return cls(images, data["state"], [str(t) for t in data["tasks"]], data["displacement"],
                       data["episode"], int(data["horizon"]))


def record_probe_frames(tasks: list[str], episodes_per_task: int, seed: int, *, horizon: int = 5, every: int = 2,
                        image_size: int = 64, cameras: tuple[str, ...] = ("front", "wrist")) -> ProbeFrames:
    """Expert rollouts on env seeds ``seed + i`` (i < episodes_per_task) of each tabletop task -> :class:`ProbeFrames`."""
    from sim_envs.adapters import adapter_for
    from sim_envs.tabletop import ScriptedExpert, TabletopEnv

    images: dict[str, list[np.ndarray]] = {c: [] for c in cameras}
    state, texts, disp, episode = [], [], [], []
    for t_index, task in enumerate(tasks):
        adapter = adapter_for(task)
        env = TabletopEnv(task.removeprefix("tabletop/"), image_size=image_size, cameras=cameras)
        try:
            for i in range(episodes_per_task):
                raw, _ = env.reset(seed=seed + i)
                expert = ScriptedExpert(env)
                expert.reset()
                observations, positions = [], []
                done = False
                while not done:
                    observations.append(adapter.observation(env, raw))
                    positions.append(env.object_positions()[env.task.obj].copy())
                    raw, _, terminated, truncated, _ = env.step(expert.act(raw))
                    done = terminated or truncated
                positions.append(env.object_positions()[env.task.obj].copy())
                for t in range(0, len(observations) - horizon + 1, every):
                    obs = observations[t]
                    for cam in cameras:
                        images[cam].append(obs[f"observation.images.{cam}"])
                    state.append(obs["observation.state"])
                    texts.append(obs["task"])
                    disp.append(positions[t + horizon] - positions[t])
                    episode.append(t_index * episodes_per_task + i)
        finally:
            env.close()
    return ProbeFrames({c: np.stack(v) for c, v in images.items()}, np.stack(state).astype(np.float32), texts,
                       np.stack(disp).astype(np.float64), np.asarray(episode), horizon)


def backbone_features(policy, preprocessor, frames: ProbeFrames, batch_size: int = 64):
    """Masked mean of the backbone's hidden states per frame -> ``(N, D)`` float64 (the policy in eval mode)."""
    import torch

    policy.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(frames.tasks), batch_size):
            stop = start + batch_size
            batch = {f"observation.images.{cam}": torch.from_numpy(img[start:stop]).permute(0, 3, 1, 2).float() / 255
                     for cam, img in frames.images.items()}
            batch["observation.state"] = torch.from_numpy(frames.state[start:stop])
            batch["task"] = frames.tasks[start:stop]
            if preprocessor is not None:
                batch = preprocessor(batch)
            hidden, mask = policy.encode(batch)
            weights = mask.float().unsqueeze(-1)
            out.append(((hidden * weights).sum(1) / weights.sum(1).clamp_min(1)).double().cpu().numpy())
    return np.concatenate(out)


def state_task_features(frames: ProbeFrames) -> np.ndarray:
    """The reference without vision: proprioceptive state and a one-hot of the instruction -> ``(N, S + tasks)``.

    What a probe predicts from these alone is the part of the target that needs no image features at all (the
    task says which way the object goes; the arm's pose says roughly when)."""
    names = sorted(set(frames.tasks))
    one_hot = np.eye(len(names))[[names.index(t) for t in frames.tasks]]
    return np.concatenate([frames.state.astype(np.float64), one_hot], axis=1)


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ridge on standardized ``x (N, D)`` -> ``(mean, std, weights (D, T), intercept (T,))``."""
    mean, std = x.mean(0), x.std(0) + 1e-8
    z = (x - mean) / std
    weights = scipy.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - y.mean(0)), assume_a="pos")
    return mean, std, weights, y.mean(0)


def probe_r2(features: np.ndarray, targets: np.ndarray, episodes: np.ndarray, *, folds: int = 5,
             alpha: float = 1.0) -> float:
    """Out-of-fold R² (pooled over the target's columns) of a ridge probe, folds split by episode.

    R² = 1 - Σ(y - ŷ)² / Σ(y - ȳ)², ȳ the mean of all targets: 0 = no better than a constant, 1 = exact.
    """
    ids = np.unique(episodes)
    if len(ids) < folds:
        raise ValueError(f"probe_r2 needs at least {folds} episodes for {folds} folds, got {len(ids)}")
    predicted = np.empty_like(targets, dtype=np.float64)
    for k in range(folds):
        held = np.isin(episodes, ids[k::folds])
        mean, std, weights, intercept = ridge_fit(features[~held], targets[~held], alpha)
        predicted[held] = ((features[held] - mean) / std) @ weights + intercept
    residual = ((targets - predicted) ** 2).sum()
    total = ((targets - targets.mean(0)) ** 2).sum()
    return float(1.0 - residual / total)

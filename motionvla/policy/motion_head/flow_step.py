"""``motionvla_flow_targets``: the pre-processor step that lets ``lerobot-train`` train the motion head.

lerobot's trainer loads, for every ``observation.*`` key, the frames that the policy config's
``observation_delta_indices`` ask for: ``(B, K+1, ...)`` holding frames t, t+s, ..., t+K*s
(``<key>_is_pad`` marks those past the episode's end, which lerobot fills with the episode's last frame).
This step estimates the K flows between consecutive frames of the flow camera with
:class:`motionvla.flow.FlowEstimator` and resizes them to the motion resolution, exactly as the flow
cache of ``motionvla train`` does (:func:`motionvla.datasets.flow_targets.future_flows`), and puts
``motion (B, K, 2, h, w)`` and ``motion_mask (B, K)`` into the batch. Every observation key then keeps
only frame t, the frame the policy sees when it acts.

Observations without a time axis (acting, or ``motionvla train``'s batches, which carry cached flows)
pass through unchanged, so one saved pre-processor serves training and inference.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from lerobot.configs import PipelineFeatureType, PolicyFeature
from lerobot.processor import EnvTransition, ProcessorStep, ProcessorStepRegistry, TransitionKey
from torch import Tensor

from motionvla.keys import MOTION_KEY, MOTION_MASK_KEY, MOTION_PAST_KEY
from motionvla.flow import FlowEstimator, resize_flow

STEP_NAME = "motionvla_flow_targets"
PAD_SUFFIX = "_is_pad"
# Threads that estimate one batch's flows (cores beyond a handful are the DataLoader workers').
FLOW_THREADS = min(8, os.cpu_count() or 1)


def frames_to_uint8(frames: Tensor) -> np.ndarray:
    """``(..., 3, H, W)`` float in [0, 1] (or uint8) → uint8 ``(..., H, W, 3)``, rounded like the flow cache's
    frames (:func:`motionvla.reports.media.to_uint8_hwc`), so both trainers see the same pixels."""
    array = frames.detach().cpu()
    if array.dtype != torch.uint8:
        array = (array.float().clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
    return np.ascontiguousarray(array.movedim(-3, -1).numpy())


@ProcessorStepRegistry.register(name=STEP_NAME)
@dataclass
class FlowTargetsStep(ProcessorStep):
    """Future frames of ``camera`` → ``motion``/``motion_mask``; observations cut to the current frame.

    Args:
        camera: the policy's camera key whose frames give the flow (the config's first camera).
        num_flows: K; the step expects K + 1 frames per observation.
        height, width: the flow's resolution (the config's ``motion_resolution``); vectors are rescaled.
        method: a :mod:`motionvla.flow` method (``dis``, ``farneback``, ``raft``).
    """

    camera: str = "observation.images.front"
    num_flows: int = 4
    height: int = 16
    width: int = 16
    method: str = "dis"
    # The observations also hold frame t - s first (observation_delta_indices starts at -s): the flow from it to
    # frame t becomes ``motion_past (B, 1, 2, h, w)`` (zero where lerobot padded it: before the episode's start).
    past_flow: bool = False
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        observation = transition.get(TransitionKey.OBSERVATION)
        frames = observation.get(self.camera) if isinstance(observation, dict) else None
        if not isinstance(frames, Tensor) or frames.dim() != 5:
            return transition  # one frame per camera: acting, or cached flows (motionvla train)
        b, t = frames.shape[:2]
        past = 1 if self.past_flow else 0
        if t != self.num_flows + 1 + past:
            raise ValueError(
                f"{self.camera} holds {t} frames per sample but {self.num_flows} future flows"
                f"{' and the observed one' if past else ''} need {self.num_flows + 1 + past}: the dataset's "
                "delta_timestamps do not match the policy's observation_delta_indices"
            )
        complementary = dict(transition.get(TransitionKey.COMPLEMENTARY_DATA) or {})
        pad = self._padding(complementary, b, t)
        flows = torch.from_numpy(self.flows(frames))
        valid = ~(pad[:, :-1] | pad[:, 1:])  # flow i needs frames i and i + 1 inside the episode
        flows[~valid] = 0.0  # as in the flow cache: flows past the episode's end are zero and masked
        complementary[MOTION_KEY] = flows[:, past:]
        complementary[MOTION_MASK_KEY] = valid[:, past:]
        if past:
            complementary[MOTION_PAST_KEY] = flows[:, :1]
        # lerobot applies observation_delta_indices to every observation.* key, so when the camera has a
        # time axis they all do; frame `past` is the current one. Padding flags stay as they are.
        current = {
            key: value[:, past] if isinstance(value, Tensor) and PAD_SUFFIX not in key and value.dim() >= 2 else value
            for key, value in observation.items()
        }
        out = dict(transition)
        out[TransitionKey.OBSERVATION] = current
        out[TransitionKey.COMPLEMENTARY_DATA] = complementary
        return out

    def flows(self, frames: Tensor) -> np.ndarray:
        """K flows between consecutive frames: ``frames (B, K+1, 3, H, W)`` float in [0, 1] → float32
        ``(B, K, 2, height, width)``, pixels at the target resolution, x then y.

        lerobot's trainer runs the pre-processor in its main process, so the samples are spread over a
        few threads (OpenCV releases the GIL; each thread has its own estimator, as a DIS object is not
        thread-safe). RAFT runs in the calling thread.
        """
        sequences = frames_to_uint8(frames)
        if self.method == "raft" or len(sequences) == 1 or FLOW_THREADS <= 1:
            return np.stack([self._one(seq) for seq in sequences])
        if self._pool is None:  # built on first use: threads and OpenCV objects neither pickle nor serialize
            self._pool = ThreadPoolExecutor(FLOW_THREADS, thread_name_prefix="motionvla-flow")
        return np.stack(list(self._pool.map(self._one, sequences)))

    def _one(self, seq: np.ndarray) -> np.ndarray:
        """``seq`` uint8 ``(K+1, H, W, 3)`` → float32 ``(K, 2, height, width)``."""
        estimator = getattr(self._local, "estimator", None)
        if estimator is None:
            estimator = self._local.estimator = FlowEstimator(self.method)
        return resize_flow(estimator.estimate_sequence(seq), self.height, self.width).astype(np.float32)

    def _padding(self, complementary: dict[str, Any], b: int, t: int) -> Tensor:
        """``(B, T)`` bool, True where lerobot padded a frame past the episode's end."""
        pad = complementary.get(self.camera + PAD_SUFFIX)
        if pad is None:
            # A renamed camera keeps its dataset name in the flag; all observation keys share the same
            # delta indices, hence the same padding, so any observation's flag will do.
            pad = next((v for k, v in complementary.items()
                        if k.startswith("observation.") and k.endswith(PAD_SUFFIX) and tuple(v.shape) == (b, t)), None)
        if pad is None:
            return torch.zeros(b, t, dtype=torch.bool)
        return pad.detach().cpu().bool()

    def __getstate__(self) -> dict[str, Any]:
        # Threads and per-thread OpenCV objects do not pickle or copy; a copy builds its own on first use.
        return {k: v for k, v in self.__dict__.items() if k not in ("_local", "_pool")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _local=threading.local(), _pool=None)

    def get_config(self) -> dict[str, Any]:
        config = {"camera": self.camera, "num_flows": self.num_flows, "height": self.height, "width": self.width,
                  "method": self.method}
        if self.past_flow:  # written only when used, so pre-processors saved before the option read the same
            config["past_flow"] = True
        return config

    def transform_features(
        self, features: dict[PipelineFeatureType, dict[str, PolicyFeature]]
    ) -> dict[PipelineFeatureType, dict[str, PolicyFeature]]:
        # Per-frame feature shapes are unchanged; the targets are training-only complementary data.
        return features

"""Run by test_train_resume.py in a fresh interpreter: train the tiny policy on fake items.

Usage: python train_script.py OUTPUT_DIR STEPS [--resume] [--kill-at N]
With ``--kill-at N`` the process SIGKILLs itself right after step N (a hard crash: no cleanup runs).
"""

import os
import signal
import sys

import torch

from motionvla.policy import MotionVLAConfig, MotionVLAPolicy
from motionvla.train import TrainConfig, train
from motionvla.train.parallel_check import _FakeItems


def main() -> None:
    out, steps = sys.argv[1], int(sys.argv[2])
    resume = "--resume" in sys.argv
    kill_at = int(sys.argv[sys.argv.index("--kill-at") + 1]) if "--kill-at" in sys.argv else None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = MotionVLAConfig(image_size=32, motion_resolution=16, flow_max_magnitude=1.0, state_dim=4, action_dim=3, chunk_size=4,
                             n_action_steps=4, device="cpu", num_inference_steps=2)
    policy = MotionVLAPolicy(config)
    torch.manual_seed(999)  # a resumed run must not depend on the RNG state it starts with
    cfg = TrainConfig(steps=steps, batch_size=4, log_every=1, checkpoint_every=2, warmup_steps=2, ema_decay=0.9,
                      grad_accumulation_steps=2, output_dir=out, resume=resume, progress=False, seed=7)

    def maybe_kill(step: int, metrics: dict) -> None:
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    train(policy, _FakeItems(config, 20), cfg, on_step_end=maybe_kill,
          save_extra=lambda folder: config._save_pretrained(folder))


if __name__ == "__main__":
    main()

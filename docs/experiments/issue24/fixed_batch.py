"""The fixed-batch check of docs/experiments/motion_head.md (round 2): the moving-squares batch of
tests/policy/test_motion_head.py, 300 steps, the decoded 1-step forecast vs "nothing moves" every 100 steps.

    .venv/bin/python docs/experiments/issue24/fixed_batch.py velocity 0.5 0   # prediction, one-step fraction, grid channels
    .venv/bin/python docs/experiments/issue24/fixed_batch.py sample 0.5 8
(The doc's first two figures, 2.67x and 1.77x, were run before the grid option existed, i.e. with 0 grid channels.)
"""
from pathlib import Path
import sys, time, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "policy"))
from test_motion_head import moving_square_batch, fitted_error, RES, SCALE
from motionvla.policy import MotionVLAConfig, MotionVLAPolicy
torch.set_num_threads(1)
for pred, osf, fc in [(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))]:
    torch.manual_seed(0)
    config = MotionVLAConfig(image_size=32, state_dim=4, action_dim=2, chunk_size=4, n_action_steps=4,
                             hidden_size=32, image_token_grid=4, motion_frames=2, motion_resolution=RES,
                             motion_patch_size=2, motion_layers=1, motion_heads=2, motion_head_dim=16,
                             flow_max_magnitude=SCALE, motion_one_step_fraction=osf, motion_prediction=pred, motion_feature_channels=fc, motion_weight=1.0, device="cpu")  # as when the doc's figures were taken
    policy = MotionVLAPolicy(config)
    batch = moving_square_batch()
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    t0 = time.time()
    for i in range(1, 301):
        loss, info = policy(batch); opt.zero_grad(); loss.backward(); opt.step()
        if i % 100 == 0:
            m, z = fitted_error(policy, batch); policy.train()
            print(pred, osf, i, f"{time.time()-t0:.0f}s", info["motion_loss"], m, z, m / z, flush=True)

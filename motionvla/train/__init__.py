"""Shared training loop pieces (config, pure train step, resumable data order, atomic checkpoints).

The Trainer/``train()`` wiring, metrics logging and tests are not written yet.
"""

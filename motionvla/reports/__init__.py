"""Report pieces people look at: rollout GIFs with the instruction drawn on, motion-image strips."""

"""motionvla/policy."""

"""motionvla."""

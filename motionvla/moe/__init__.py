"""motionvla/moe."""

"""motionvla/flow_forecast."""

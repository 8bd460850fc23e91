"""Datasets: recording simulated demonstrations into LeRobotDataset v3, and reading them back."""

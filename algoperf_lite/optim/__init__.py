"""Optimizer transformations (optax style) and schedules that submissions are built from."""

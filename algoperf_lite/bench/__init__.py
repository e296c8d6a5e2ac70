"""The speed benchmark: the runner against an independent floor, and the main job's wall time."""

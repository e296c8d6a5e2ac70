"""Re-expressions, as optax transformations, of AlgoPerf v0.5 leaderboard
entries that exist only in PyTorch (used by scripts/leaderboard_replay.py).
Each is our reading of the entry's submission file, labelled as such; the
entries written in JAX run from their own files instead."""

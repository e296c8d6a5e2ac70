"""Tuning: AlgoPerf studies over search spaces, sweeps, targets and the baseline runs."""

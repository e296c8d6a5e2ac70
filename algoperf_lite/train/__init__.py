"""Training: the compiled program, one trial or K vmapped lanes, statuses, checkpoints and trial
records.
"""

"""Trial checkpoints with orbax: the whole trial state plus the runner's books.

A checkpoint holds the :class:`~algoperf_lite.train.step.TrialState` pytree
(parameters, optimizer and model state, RNG keys, step, epoch order) and a
JSON record of everything the runner accumulated (evaluation rows, clock
accounting, best value, the trial's fingerprint). Orbax finalizes a
checkpoint by renaming a finished temporary folder, so a kill mid-save leaves
the previous checkpoint intact. Only the newest is kept.
"""

from __future__ import annotations

import os
import shutil

import jax

CHECKPOINT_DIR = "checkpoints"


def _manager(trial_dir: str):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False)
    return ocp.CheckpointManager(
        os.path.join(os.path.abspath(trial_dir), CHECKPOINT_DIR), options=options
    )


def exists(trial_dir: str) -> bool:
    folder = os.path.join(trial_dir, CHECKPOINT_DIR)
    return os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder))


def save(trial_dir: str, step: int, state, books: dict) -> None:
    import orbax.checkpoint as ocp

    manager = _manager(trial_dir)
    args = ocp.args.Composite(state=ocp.args.StandardSave(state), books=ocp.args.JsonSave(books))
    manager.save(step, args=args, force=True)
    manager.wait_until_finished()
    manager.close()


def restore(trial_dir: str, like_state):
    """``(state, books)`` from the newest checkpoint, shaped like ``like_state``; or None."""
    import orbax.checkpoint as ocp

    if not exists(trial_dir):
        return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
    args = ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), books=ocp.args.JsonRestore()
    )
    try:
        manager = _manager(trial_dir)
        try:
            step = manager.latest_step()
            restored = None if step is None else manager.restore(step, args=args)
        finally:
            manager.close()
    except Exception as e:  # orbax raises many types for a damaged folder
        from algoperf_lite.core.errors import warn

        # Only the newest checkpoint is kept, so there is none older to fall back to.
        shutil.rmtree(os.path.join(trial_dir, CHECKPOINT_DIR), ignore_errors=True)
        warn(f"the checkpoint in {trial_dir} is damaged ({type(e).__name__}); starting afresh")
        return None
    if restored is None:
        return None
    return restored["state"], restored["books"]

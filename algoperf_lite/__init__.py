"""algoperf_lite: AlgoPerf-style benchmarking of training algorithms, in small.

Public API::

    from algoperf_lite import Workload, Submission, load_submission, run_trial
    from workloads import get_workload

    result = run_trial(get_workload("mnist1d_mlp"), load_submission("nadamw"), seed=0)
    print(result.summary())
"""

import importlib

# Where each public name lives. They are imported on first use, so that commands
# which need no JAX (``algoperf-lite --help``, argument errors) start at once.
_PUBLIC = {
    "Submission": "algoperf_lite.core.spec",
    "TrialResult": "algoperf_lite.train.result",
    "TrialState": "algoperf_lite.train.step",
    "UserError": "algoperf_lite.core.errors",
    "Workload": "algoperf_lite.core.spec",
    "load_submission": "algoperf_lite.loading",
    "read_hparams": "algoperf_lite.core.spec",
    "run_trial": "algoperf_lite.train.loop",
    "warmup_cosine": "algoperf_lite.optim.schedules",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'algoperf_lite' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__():
    return sorted([*globals(), *_PUBLIC])

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
    "Submission": "algoperf_lite.spec",
    "TrialResult": "algoperf_lite.runner",
    "TrialState": "algoperf_lite.runner",
    "UserError": "algoperf_lite.errors",
    "Workload": "algoperf_lite.spec",
    "load_submission": "algoperf_lite.spec",
    "read_hparams": "algoperf_lite.spec",
    "run_trial": "algoperf_lite.runner",
    "warmup_cosine": "algoperf_lite.schedules",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'algoperf_lite' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__():
    return sorted([*globals(), *_PUBLIC])

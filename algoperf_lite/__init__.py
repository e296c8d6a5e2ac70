"""algoperf_lite: AlgoPerf-style benchmarking of training algorithms, in small.

Public API::

    from algoperf_lite import Workload, Submission, load_submission, run_trial
    from workloads import get_workload

    result = run_trial(get_workload("mnist1d_mlp"), load_submission("nadamw"), seed=0)
    print(result.summary())
"""

from algoperf_lite.errors import UserError
from algoperf_lite.runner import TrialResult, TrialState, run_trial
from algoperf_lite.schedules import warmup_cosine
from algoperf_lite.spec import Submission, Workload, load_submission, read_hparams

__all__ = [
    "Submission",
    "TrialResult",
    "TrialState",
    "UserError",
    "Workload",
    "load_submission",
    "read_hparams",
    "run_trial",
    "warmup_cosine",
]

"""The contracts: Workload, Submission, parameter types, losses and layers workloads are built
from, errors, files. No training code.
"""

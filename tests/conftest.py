import os
import sys

import pytest

# Tests count compilations and time them: no program comes from JAX's disk cache
# (test_compile_cache turns it on where it is the subject).
os.environ["ALGOPERF_LITE_COMPILE_CACHE"] = "off"
# Tests start JAX on every core (faster compiles); test_pool checks one core's.
os.environ["ALGOPERF_LITE_ONE_CORE"] = "off"

from algoperf_lite.loading import load_submission
from workloads import WORKLOADS


@pytest.fixture
def nadamw():
    return load_submission("nadamw")


@pytest.fixture
def tune_command():
    """The command line of a `tune` subprocess on mnist1d_mlp with nadamw."""

    def command(out, trials, studies, *extra):
        return [
            sys.executable,
            "-m",
            "algoperf_lite.cli",
            "tune",
            "--workload",
            "mnist1d_mlp",
            "--submission",
            "nadamw",
            "--trials",
            str(trials),
            "--studies",
            str(studies),
            "--output",
            str(out),
            *extra,
        ]

    return command


@pytest.fixture
def mlp():
    return WORKLOADS["mnist1d_mlp"]


# Bad inputs tried by the property-based tests, summed across xdist workers
# (each test reports its count through record_property).
_BAD_INPUTS = {}


def pytest_runtest_logreport(report):
    for name, value in getattr(report, "user_properties", []):
        if name == "bad_inputs":  # recorded at fixture teardown
            _BAD_INPUTS[report.nodeid] = value


def pytest_terminal_summary(terminalreporter):
    if _BAD_INPUTS:
        total = sum(_BAD_INPUTS.values())
        terminalreporter.write_line(
            f"bad inputs tried: {total} across {len(_BAD_INPUTS)} property tests "
            "(each refused with a one-line error, or handled correctly)"
        )

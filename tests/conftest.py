import pytest

from algoperf_lite.spec import load_submission
from workloads import WORKLOADS


@pytest.fixture
def nadamw():
    return load_submission("nadamw")


@pytest.fixture
def mlp():
    return WORKLOADS["mnist1d_mlp"]

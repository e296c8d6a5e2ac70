"""The names AlgoPerf's ``algoperf.spec`` gives submissions: enums, the
``ShapeTuple`` leaf and type aliases (only what a submission touches)."""

import enum
from typing import Any

from algoperf_lite.core.params import ParameterType  # noqa: F401  (AlgoPerf's name)


class LossType(enum.Enum):
    SOFTMAX_CROSS_ENTROPY = 0
    SIGMOID_CROSS_ENTROPY = 1
    MEAN_SQUARED_ERROR = 2
    CTC_LOSS = 3
    MEAN_ABSOLUTE_ERROR = 4


class ForwardPassMode(enum.Enum):
    TRAIN = 0
    EVAL = 1


class ShapeTuple:
    """A shape as one pytree leaf (a bare tuple would be traversed)."""

    def __init__(self, shape_tuple):
        self.shape_tuple = tuple(shape_tuple)

    def __repr__(self):
        return f"ShapeTuple({self.shape_tuple})"

    def __eq__(self, other):
        return isinstance(other, ShapeTuple) and self.shape_tuple == other.shape_tuple


class Workload:
    """The workload interface; ours is ``compat.algoperf.workload.AlgoPerfWorkload``."""


class TrainingCompleteError(Exception):
    pass


Tensor = Any
ParameterContainer = Any
ParameterTypeTree = Any
ParameterShapeTree = Any
ModelAuxiliaryState = Any
OptimizerState = Any
Hyperparameters = Any
RandomState = Any
UpdateReturn = tuple
Steps = int
Timing = int

"""The names AlgoPerf's ``algoperf.spec`` gives submissions: enums, the
``ShapeTuple`` leaf and type aliases (only what a submission touches)."""

import enum
from typing import Any


class LossType(enum.Enum):
    SOFTMAX_CROSS_ENTROPY = 0
    SIGMOID_CROSS_ENTROPY = 1
    MEAN_SQUARED_ERROR = 2
    CTC_LOSS = 3
    MEAN_ABSOLUTE_ERROR = 4


class ForwardPassMode(enum.Enum):
    TRAIN = 0
    EVAL = 1


class ParameterType(enum.Enum):
    WEIGHT = 0
    BIAS = 1
    CONV_WEIGHT = 2
    BATCH_NORM_SCALE = 3
    BATCH_NORM_BIAS = 4
    LAYER_NORM_SCALE = 5
    LAYER_NORM_BIAS = 6
    EMBEDDING = 7
    ATTENTION_Q = 8
    ATTENTION_K = 9
    ATTENTION_V = 10
    ATTENTION_OUT = 11
    ATTENTION_QKV = 12
    ATTENTION_KV = 13
    ATTENTION_BIAS = 14


class ShapeTuple:
    """A shape as one pytree leaf (a bare tuple would be traversed)."""

    def __init__(self, shape_tuple):
        self.shape_tuple = tuple(shape_tuple)

    def __repr__(self):
        return f"ShapeTuple({self.shape_tuple})"

    def __eq__(self, other):
        return isinstance(other, ShapeTuple) and self.shape_tuple == other.shape_tuple


class Workload:
    """The workload interface; ours is ``algoperf_api.workload.AlgoPerfWorkload``."""


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

"""Our :class:`~algoperf_lite.core.spec.Workload` behind AlgoPerf's workload interface."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import jax_utils

from algoperf_lite.compat.algoperf import spec
from algoperf_lite.core import losses, params
from algoperf_lite.core.errors import UserError
from algoperf_lite.train.program import device_data
from algoperf_lite.train.step import augment_key


class AlgoPerfWorkload(spec.Workload):
    """The workload methods and properties an AlgoPerf submission may call.

    ``replicated`` presents the workload as AlgoPerf's pmap-era runner did:
    ``init_model_fn`` returns parameters and model state with a leading device
    axis (one copy per local device), and training batches come as
    ``[devices, batch / devices, ...]``."""

    def __init__(self, workload, replicated: bool = False):
        self.workload = workload
        self.replicated = replicated
        self._model = workload.make_model()
        self._param_shapes = None
        self._param_types = None
        self.metrics_logger = None

    # --- Facts -------------------------------------------------------------
    @property
    def name(self):
        return self.workload.name

    @property
    def step_hint(self) -> int:
        return self.workload.step_hint

    @property
    def target_metric_name(self) -> str:
        return self.workload.metric

    @property
    def validation_target_value(self):
        return self.workload.validation_target

    @property
    def test_target_value(self):
        return self.workload.test_target

    def has_reached_validation_target(self, eval_result) -> bool:
        value = eval_result[self.workload.metric_column]
        return self.workload.reached(value, self.workload.validation_target)

    def has_reached_test_target(self, eval_result) -> bool:
        value = eval_result[self.workload.metric_column.replace("validation/", "test/")]
        return self.workload.reached(value, self.workload.test_target)

    @property
    def loss_type(self) -> spec.LossType:
        if self.workload.loss_fn is losses.squared_error:
            return spec.LossType.MEAN_SQUARED_ERROR
        return spec.LossType.SOFTMAX_CROSS_ENTROPY

    def _split_size(self, split):
        return len(self.workload.load_splits()[split][0])

    @property
    def num_train_examples(self) -> int:
        return self._split_size("train")

    @property
    def num_validation_examples(self) -> int:
        return self._split_size("validation")

    @property
    def num_test_examples(self) -> int:
        return self._split_size("test")

    @property
    def num_eval_train_examples(self) -> int:
        return self.num_validation_examples

    @property
    def eval_batch_size(self) -> int:
        return self.workload.eval_batch_size

    @property
    def max_allowed_runtime_sec(self):
        return math.inf  # our budgets are in steps

    @property
    def eval_period_time_sec(self):
        return math.inf  # we evaluate every ``eval_every`` steps

    @property
    def param_shapes(self):
        if self._param_shapes is None:
            raise ValueError("call init_model_fn() before param_shapes")
        return self._param_shapes

    @property
    def model_params_types(self):
        if self._param_types is None:
            raise ValueError("call init_model_fn() before model_params_types")
        return self._param_types

    def is_output_params(self, param_key) -> bool:
        last = sorted(self.param_shapes)[-1] if self._param_shapes else None
        return param_key == last

    # --- Model ---------------------------------------------------------------
    def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
        del dropout_rate, aux_dropout_rate  # ours are per call
        x = device_data(self.workload).train[0]
        variables = self._model.init({"params": rng}, x[:1], train=False)
        variables = dict(variables)
        model_params = variables.pop("params")
        self._param_shapes = jax.tree.map(lambda a: spec.ShapeTuple(a.shape), model_params)
        self._param_types = params.param_types(model_params)
        if self.replicated:
            return jax_utils.replicate(model_params), jax_utils.replicate(variables)
        return model_params, variables

    def model_fn(
        self,
        params,
        augmented_and_preprocessed_input_batch,
        model_state,
        mode,
        rng,
        update_batch_norm,
        dropout_rate=0.0,
        use_running_average_bn=None,
    ):
        del use_running_average_bn
        train = mode == spec.ForwardPassMode.TRAIN
        inputs = augmented_and_preprocessed_input_batch["inputs"]
        variables = {"params": params, **model_state}
        kwargs = dict(train=train, dropout_rate=dropout_rate, rngs={"dropout": rng})
        if train and model_state:
            out, new_state = self._model.apply(
                variables, inputs, mutable=list(model_state), **kwargs
            )
            return out, (dict(new_state) if update_batch_norm else model_state)
        return self._model.apply(variables, inputs, **kwargs), model_state

    def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
        per_example = self.workload.loss_fn(logits_batch, label_batch, label_smoothing)
        if mask_batch is None:
            mask_batch = jnp.ones_like(per_example)
        per_example = per_example * mask_batch
        return {
            "summed": per_example.sum(),
            "n_valid_examples": mask_batch.sum(),
            "per_example": per_example,
        }

    # --- Data ------------------------------------------------------------------
    @staticmethod
    def _per_device(batch):
        devices = jax.local_device_count()

        def split(a):
            if a.shape[0] % devices:
                raise UserError(
                    f"a batch of {a.shape[0]} does not split over {devices} devices; "
                    "return a batch size that does from get_batch_size"
                )
            return a.reshape(devices, a.shape[0] // devices, *a.shape[1:])

        return jax.tree.map(split, batch)

    def _build_input_queue(self, data_rng, split, data_dir, global_batch_size, **kwargs):
        """Endless shuffled training batches ``{"inputs", "targets"}`` on the device,
        a fresh permutation each epoch (the last partial batch is dropped)."""
        del data_dir, kwargs
        if split != "train":
            raise ValueError("only the training queue is exposed to submissions")
        x, y = device_data(self.workload).train
        steps = len(x) // global_batch_size
        key = jax.random.key_data(jax.random.key(0)) if data_rng is None else data_rng
        take = jax.jit(lambda a, idx: a[idx])
        epoch = 0
        while True:
            order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), len(x)))
            for i in range(steps):
                idx = jnp.asarray(order[i * global_batch_size : (i + 1) * global_batch_size])
                inputs = take(x, idx)
                if self.workload.augment is not None:
                    inputs = self.workload.augment(augment_key(key, epoch * steps + i), inputs)
                batch = {"inputs": inputs, "targets": take(y, idx)}
                yield self._per_device(batch) if self.replicated else batch
            epoch += 1

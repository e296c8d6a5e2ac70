"""Registered workloads: name -> declaration, with targets and step budgets
read from ``targets.json`` (written by ``scripts/set_targets.py``; see the
README's "Targets" section for the procedure and provenance)."""

import dataclasses
import hashlib
import importlib.util
import json
import os
import sys

from algoperf_lite.core import cpu
from algoperf_lite.core.errors import UserError
from algoperf_lite.core.spec import SPLITS, Workload

# Before a workload module starts JAX (one builds an array as it loads): every
# process that trains computes as one that saw one core (see core/cpu.py).
cpu.start_on_one_core()

from workloads import char_lm, digits, logreg, mnist1d, regression, tfds_suite, variants  # noqa: E402

_DECLARED = (
    mnist1d.MLP,
    mnist1d.CNN,
    digits.CNN,
    logreg.LOGREG,
    regression.MLP,
    char_lm.TRANSFORMER,
    *variants.VARIANTS,
    *tfds_suite.WORKLOADS,
)
TARGETS_FILE = os.path.join(os.path.dirname(__file__), "targets.json")


def _with_targets(workload, targets):
    entry = targets.get(workload.name)
    if entry is None:
        return workload
    return dataclasses.replace(
        workload,
        validation_target=entry["validation_target"],
        test_target=entry["test_target"],
        step_hint=entry["step_hint"],
        provenance=entry.get("provenance"),
    )


def _load_targets():
    if not os.path.exists(TARGETS_FILE):
        return {}
    with open(TARGETS_FILE) as f:
        return json.load(f)


WORKLOADS = {w.name: _with_targets(w, _load_targets()) for w in _DECLARED}
# As declared, before targets.json: ``step_hint`` is the target-setting horizon.
DECLARED = {w.name: w for w in _DECLARED}


def get_workload(name: str):
    """A registered workload, or ``path/to/file.py:NAME`` (a Workload in the user's file)."""
    if name in WORKLOADS:
        return WORKLOADS[name]
    if ".py:" in name:
        return _from_file(*name.rsplit(":", 1))
    raise UserError(
        f"unknown workload '{name}'; known: {', '.join(WORKLOADS)} (or give path/to/file.py:NAME)"
    )


_USER: dict = {}


def _from_file(path: str, attribute: str):
    key = (os.path.abspath(path), attribute)
    if key in _USER:  # one object per workload, so compiled steps are reused
        return _USER[key]
    if not os.path.isfile(path):
        raise UserError(f"workload file not found: {path}; check the path")
    module_name = "algoperf_lite_workload_" + hashlib.sha1(key[0].encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # the definition hash reads the source through it
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the user's file: report, don't crash or exit
        message = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        raise UserError(f"could not import workload file {path}: {message}") from None
    workload = getattr(module, attribute, None)
    if not isinstance(workload, Workload):
        raise UserError(
            f"{path} has no Workload named '{attribute}'; define "
            f"{attribute} = algoperf_lite.Workload(...) there"
        )
    _USER[key] = workload
    return workload


def describe(workload) -> dict:
    """Registry metadata: suite, data, metrics per split, parameters and their AlgoPerf
    categories, targets and the expected CPU time to target."""
    import jax
    import jax.numpy as jnp

    from algoperf_lite.core import params

    abstract = params.abstract_params(workload)
    if workload.input_spec is None:
        x, y = workload.load_splits()["train"]
        x_spec, y_spec = (jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype) for a in (x, y))
    else:
        shape, dtype = workload.input_spec
        x_spec = jax.ShapeDtypeStruct((1, *shape), jnp.dtype(dtype))
        y_spec = None
    types = jax.tree_util.tree_flatten_with_path(params.param_types(abstract))[0]
    metrics = _metric_names(workload, abstract, x_spec, y_spec)
    provenance = workload.provenance or {}
    return {
        "name": workload.name,
        "suite": _suite_of(workload),
        "variant_of": workload.variant_of,
        "description": workload.description,
        "data": tfds_suite.DATASETS.get(workload.name, "bundled (no download)"),
        "metric": workload.metric_column,
        "higher_is_better": workload.higher_is_better,
        "target": workload.validation_target,
        "test_target": workload.test_target,
        "target_provisional": bool(provenance.get("provisional")),
        "step_hint": workload.step_hint,
        "batch_size": workload.batch_size,
        "eval_every": workload.eval_every,
        "eval_metrics": {split: [f"{split}/{m}" for m in metrics] for split in SPLITS},
        "parameters": params.param_count(abstract),
        "param_types": {"/".join(k.key for k in path): t.name for path, t in types},
        "cpu_seconds_to_target": _cpu_seconds_to_target(workload),
        "gpu_seconds_to_target": None,  # not measured yet
        "offline": workload.offline,
    }


SUITES = ("offline", "variants", "tfds")


def suite(name: str) -> list:
    """The workloads of a suite: ``offline`` (bundled data, the default benchmark),
    ``variants`` (held-out variants of the offline ones) or ``tfds`` (real datasets)."""
    if name not in SUITES:
        raise UserError(f"unknown suite '{name}'; known: {', '.join(SUITES)}")
    members = {
        "offline": lambda w: w.offline and w.variant_of is None,
        "variants": lambda w: w.variant_of is not None,
        "tfds": lambda w: not w.offline,
    }[name]
    return [w for w in WORKLOADS.values() if members(w)]


def _suite_of(workload) -> str:
    return next(name for name in SUITES if workload in suite(name))


def _metric_names(workload, abstract, x_spec, y_spec) -> list[str]:
    import jax
    import jax.numpy as jnp

    model = workload.make_model()

    def metrics(p, x, y):
        out = model.apply({"params": p}, x, train=False, mutable=True)[0]
        y = jnp.zeros(out.shape[:-1], jnp.int32) if y is None else y
        return workload.metrics_fn(out, y)

    return sorted(jax.eval_shape(metrics, abstract, x_spec, y_spec))


def _cpu_seconds_to_target(workload):
    """Median training time to the target of the target-setting check runs (one at
    a time, on the CPU named in the provenance; a seed that missed counts as inf)."""
    import math
    import statistics

    times = (workload.provenance or {}).get("check", {}).get("time_to_target_per_seed")
    if not times:
        return None
    value = statistics.median(math.inf if t is None else t for t in times)
    return round(value, 2) if math.isfinite(value) else None

"""Loading submissions: a registered name or a file, written to our contract or
to AlgoPerf's API, becomes a ``Submission``. The one place where the library
meets the submissions registry and the AlgoPerf adapter."""

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping

from algoperf_lite.compat.algoperf import (
    group,
    is_api_module,
    provide_algoperf_imports,
    renamed_jax_names,
)
from algoperf_lite.core.errors import UserError
from algoperf_lite.core.spec import Submission
from submissions import SUBMISSIONS

# One Submission object per name or file, so compiled steps are reused across trials.
_LOADED: dict[str, Submission] = {}


def load_submission(name_or_path: str) -> Submission:
    """A registered submission by name, or a submission module by file path."""
    if name_or_path in SUBMISSIONS:
        if name_or_path not in _LOADED:
            module = importlib.import_module(SUBMISSIONS[name_or_path])
            _LOADED[name_or_path] = _from_module(module, name_or_path, module.__file__)
        return _LOADED[name_or_path]
    looks_like_path = name_or_path.endswith(".py") or os.sep in name_or_path
    if not looks_like_path:
        raise UserError(
            f"unknown submission '{name_or_path}'; known: {', '.join(SUBMISSIONS)} "
            "(or give the path of a .py file)"
        )
    path = os.path.abspath(name_or_path)
    if not os.path.isfile(path):
        raise UserError(f"submission file not found: {name_or_path}; check the path")
    if path in _LOADED:
        return _LOADED[path]
    provide_algoperf_imports()
    try:
        with renamed_jax_names():
            module = _import_file(path)
    except (Exception, SystemExit) as e:  # the user's file: report, don't crash or exit
        raise UserError(
            f"could not import submission file {name_or_path}: {type(e).__name__}: {e}"
        ) from None
    name = os.path.splitext(os.path.basename(path))[0]
    _LOADED[path] = _from_module(module, name, path)
    return _LOADED[path]


def _import_file(path: str):
    """Import a submission file, as a module of its package where its folder is
    one: AlgoPerf imports a file by its dotted path, so a file may import its
    neighbours relatively (``from .utils import ...``). The package is
    registered under a name of its own, so it cannot shadow ours."""
    tag = "algoperf_lite_submission_" + hashlib.sha1(path.encode()).hexdigest()[:12]
    top, parts = os.path.dirname(path), [os.path.splitext(os.path.basename(path))[0]]
    if not os.path.isfile(os.path.join(top, "__init__.py")):
        spec = importlib.util.spec_from_file_location(tag, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    while os.path.isfile(os.path.join(os.path.dirname(top), "__init__.py")):
        parts.insert(0, os.path.basename(top))
        top = os.path.dirname(top)
    tag = "algoperf_lite_package_" + hashlib.sha1(top.encode()).hexdigest()[:12]
    if tag not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            tag, os.path.join(top, "__init__.py"), submodule_search_locations=[top]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[tag] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules[tag]
            raise
    return importlib.import_module(".".join([tag, *parts]))


def _from_module(module, name: str, source: str) -> Submission:
    if is_api_module(module):
        return _from_api_module(module, name, source)
    if not callable(getattr(module, "make_optimizer", None)):
        raise UserError(
            f"submission '{name}' ({source}) has no make_optimizer(hparams, step_hint); "
            "define it to return an optax.GradientTransformation"
        )
    declared = getattr(module, "HPARAMS", None)
    if not isinstance(declared, Mapping):
        raise UserError(
            f"submission '{name}' ({source}) has no HPARAMS dict; declare its "
            "hyperparameter names and defaults, e.g. HPARAMS = {'learning_rate': 1e-3}"
        )
    return Submission(
        name=name,
        source=source,
        hparams=dict(declared),
        make_optimizer=module.make_optimizer,
        get_batch_size=getattr(module, "get_batch_size", None),
        grad_evals_per_step=int(getattr(module, "GRAD_EVALS_PER_STEP", 1)),
        log_values=getattr(module, "log_values", None),
        eval_params=getattr(module, "eval_params", None),
    )


def _from_api_module(module, name: str, source: str) -> Submission:
    declared = getattr(module, "get_batch_size", None)

    def get_batch_size(workload_name):
        # AlgoPerf's files know only AlgoPerf's workloads and raise for others.
        try:
            return None if declared is None else declared(workload_name)
        except (ValueError, KeyError):
            return None

    return Submission(
        name=name,
        source=source,
        hparams=dict(getattr(module, "HPARAMS", {})),
        make_optimizer=None,
        get_batch_size=get_batch_size,
        api=module,
        make_group=group.make_group,
    )

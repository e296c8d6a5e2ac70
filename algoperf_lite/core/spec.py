"""The two contracts: what a workload declares and what a submission exports.

A *workload* is a frozen :class:`Workload`: model, data splits, loss, metric
and its direction, targets, step budget, batch size and eval cadence, all in
one declaration. A *submission* is a Python module that exports::

    HPARAMS = {"learning_rate": 1e-3, ...}       # names and defaults (None: required)
    def make_optimizer(hparams, step_hint) -> optax.GradientTransformation
    def get_batch_size(workload_name) -> int     # optional
    def log_values(opt_state) -> dict            # optional: scalars logged at each eval
    def eval_params(opt_state, params) -> params  # optional: what is evaluated

``eval_params`` serves rules that train at one point and are judged at
another (schedule-free's averaged iterate, weight averaging): evaluation sees
what it returns, training goes on from ``params``.

``make_optimizer`` is called inside the compiled training step with every
hyperparameter as a scalar array, so it must not branch in Python on their
values; a trial with other values then reuses the compiled step.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import hashlib
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from algoperf_lite.core import losses
from algoperf_lite.core.errors import UserError

SPLITS = ("train", "validation", "test")
# Hyperparameters the runner hands to the loss and the model, not only to the optimizer.
REGULARIZERS = ("label_smoothing", "dropout_rate")

Splits = Mapping[str, tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True, eq=False)
class Workload:
    """Everything the runner and the scorer need to know about one workload.

    ``make_model()`` returns a Flax module called as
    ``model(x, train=..., dropout_rate=...)``; its non-``params`` collections
    (batch-norm statistics) are the trial's model state. ``load_splits()``
    returns fixed, seeded ``{"train"|"validation"|"test": (inputs, labels)}``
    NumPy arrays. ``loss_fn(outputs, labels, label_smoothing)`` gives per-example
    training losses; ``metrics_fn(outputs, labels)`` gives per-example values of
    every reported metric (``loss`` among them).
    """

    name: str
    description: str
    make_model: Callable[[], Any]
    load_splits: Callable[[], Splits]
    batch_size: int
    step_hint: int
    eval_every: int
    metric: str = "accuracy"
    higher_is_better: bool = True
    loss_fn: Callable = losses.softmax_cross_entropy
    metrics_fn: Callable = losses.classification_metrics
    validation_target: float | None = None
    test_target: float | None = None
    offline: bool = True
    eval_batch_size: int = 1000
    provenance: Mapping[str, Any] | None = None
    # The base workload's name when this is a held-out variant of it.
    variant_of: str | None = None
    # ``augment(key, inputs) -> inputs``, applied to each training batch on device.
    augment: Callable | None = None
    # ``(shape, dtype)`` of one input example, for workloads whose data may be absent.
    input_spec: tuple | None = None

    def __post_init__(self):
        for field in ("batch_size", "step_hint", "eval_every", "eval_batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(
                    f"workload '{self.name}' declares {field}={value!r}; it must be a "
                    "positive integer"
                )

    def splits(self) -> Splits:
        """``load_splits()``, checked: every split present, errors as one line."""
        try:
            splits = self.load_splits()
        except UserError:
            raise
        except Exception as e:  # the workload author's code
            raise UserError(
                f"load_splits of workload '{self.name}' raised {type(e).__name__}: {e}; fix it "
                "(or prepare its data)"
            ) from None
        missing = [s for s in SPLITS if not isinstance(splits, Mapping) or s not in splits]
        if missing:
            raise UserError(
                f"load_splits of workload '{self.name}' returned no '{missing[0]}' split; "
                f"return all of {', '.join(SPLITS)}"
            )
        return splits

    @property
    def metric_column(self) -> str:
        """The ``eval_measurements.csv`` column the target applies to."""
        return f"validation/{self.metric}"

    @property
    def definition_hash(self) -> str:
        """Changes when what the workload computes changes: its model's or data's
        code, budget or targets (see ``definition_hash``)."""
        return definition_hash(self)

    def reached(self, value: float, target: float | None) -> bool:
        if target is None or value is None or not math.isfinite(value):
            return False
        return value >= target if self.higher_is_better else value <= target

    def better(self, a: float, b: float) -> bool:
        """Whether metric value ``a`` is strictly better than ``b``."""
        return a > b if self.higher_is_better else a < b


@dataclasses.dataclass(frozen=True, eq=False)
class Submission:
    """A loaded submission module (see the module docstring for its contract)."""

    name: str
    source: str
    hparams: Mapping[str, float | None]
    make_optimizer: Callable[[Mapping[str, Any], int], Any]
    get_batch_size: Callable[[str], int] | None = None
    grad_evals_per_step: int = 1
    log_values: Callable[[Any], Mapping[str, Any]] | None = None
    eval_params: Callable[[Any, Any], Any] | None = None
    # The module itself when it is written to AlgoPerf's API (see algoperf_lite.compat.algoperf).
    api: Any = None
    # Builds the lane a submission drives itself, in place of our compiled step
    # (AlgoPerf-API files: the adapter's); set where it is loaded, so that the
    # training loop needs no adapter.
    make_group: Callable[..., Any] | None = None

    @property
    def source_hash(self) -> str:
        with open(self.source, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]

    def batch_size(self, workload: Workload) -> int:
        chosen = None
        if self.get_batch_size is not None:
            chosen = _user_call(self, "get_batch_size", self.get_batch_size, workload.name)
        if chosen is None:
            return workload.batch_size
        if isinstance(chosen, bool) or not isinstance(chosen, (int, np.integer)) or chosen < 1:
            raise UserError(
                f"get_batch_size in {self.source} returned {_shown_any(chosen)} for "
                f"'{workload.name}'; return a positive integer (or None for the workload's)"
            )
        return int(chosen)

    def check_optimizer(self, names, step_hint: int) -> None:
        """Call ``make_optimizer`` once, eagerly, at the declared defaults (0.5 where
        there is none): an error in it, or a result that is not an optax
        transformation, becomes one line naming the file."""
        import optax

        hparams = {}
        for k in names:
            default = self.hparams.get(k)
            usable = isinstance(default, (int, float)) and not isinstance(default, bool)
            hparams[k] = np.float32(default if usable else 0.5)
        made = _user_call(self, "make_optimizer", self.make_optimizer, hparams, step_hint)
        if not isinstance(made, optax.GradientTransformation):
            raise UserError(
                f"make_optimizer in {self.source} returned {type(made).__name__}, not an "
                "optax.GradientTransformation; return one (e.g. optax.chain(...))"
            )

    @property
    def open_names(self) -> bool:
        """An AlgoPerf-API file that declares no names: its search space decides them."""
        return self.api is not None and not self.hparams

    def resolve_hparams(self, overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Declared defaults merged with ``overrides``; unknown or bad values raise."""
        overrides = {} if overrides is None else overrides
        if not isinstance(overrides, Mapping):
            raise UserError(
                "hyperparameters must be a JSON object of name: number, "
                f"got {type(overrides).__name__}"
            )
        expected = ", ".join(self.hparams)
        for key in overrides:
            if key not in self.hparams and not self.open_names:
                close = difflib.get_close_matches(str(key), list(self.hparams), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise UserError(
                    f"unknown hyperparameter '{key}' for submission '{self.name}'{hint}; "
                    f"expected names: {expected}"
                )
        merged = {**self.hparams, **overrides}
        missing = [k for k, v in merged.items() if v is None]
        if missing:
            raise UserError(
                f"missing hyperparameter '{missing[0]}' for submission '{self.name}' "
                f"(it has no default); give all of: {expected}"
            )
        resolved = {key: self._resolved(key, value) for key, value in merged.items()}
        for key, value in resolved.items():
            _check_range(key, value)
        return resolved

    def _resolved(self, key: str, value):
        """One hyperparameter's value as training takes it: a float, except an
        AlgoPerf file's booleans, strings and integers, which it reads in Python."""
        if self.api is not None and isinstance(value, bool | str):
            # AlgoPerf's files read such values in Python (NadamP's nesterov,
            # Amos's style): static, each distinct value traced once.
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"hyperparameter '{key}' must be a number, got {_shown(value)}")
        try:
            number, shown = float(value), value
        except OverflowError:
            number, shown = math.inf, "an integer too large for a float"
        if not math.isfinite(number):
            raise UserError(f"hyperparameter '{key}' must be a finite number, got {shown}")
        # An API file's integers stay integers (they may size or select code).
        return value if self.api is not None and isinstance(value, int) else number


def source_files(workload: Workload) -> list[str]:
    """The files of the modules that define ``workload``'s model and data."""
    makers = [getattr(f, "func", f) for f in (workload.make_model, workload.load_splits)]
    modules = {sys.modules.get(getattr(f, "__module__", None)) for f in makers}
    return sorted({m.__file__ for m in modules if getattr(m, "__file__", None)})


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class _CodeOnly(ast.NodeTransformer):
    """Drops imports, docstrings and ``eval_batch_size=`` arguments: where names
    come from, what the code says of itself and how many examples an
    evaluation holds at once (its memory and speed; its metrics change only
    in float rounding) do not change what it computes, so moving a module,
    rewording a docstring or resizing evaluation chunks keeps every recorded
    result valid."""

    UNHASHED_KEYWORDS = ("eval_batch_size",)

    def visit_Import(self, node):
        return None

    visit_ImportFrom = visit_Import

    def visit_keyword(self, node):
        return None if node.arg in self.UNHASHED_KEYWORDS else self.generic_visit(node)

    def generic_visit(self, node):
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list):
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:] if isinstance(body[0].value.value, str) else body
            node.body = body or [ast.Pass()]
        return node


def _code(text: str, code_only: type = _CodeOnly) -> str:
    return ast.dump(code_only().visit(ast.parse(text)))


@functools.lru_cache(maxsize=256)
def _code_of(path: str, mtime_ns: int, size: int) -> str:
    return _code(_read(path))


def definition_hash(
    workload: Workload, read: Callable[[str], str] = _read, code_only: type = _CodeOnly
) -> str:
    """16 hex digits of what ``workload`` computes: the code of its model's and
    data's modules (their syntax tree without imports, docstrings, comments,
    layout or evaluation chunk sizes, see ``_CodeOnly``), its budget, cadence,
    metric and targets, and a variant's knobs.
    ``read`` gives a file's text (e.g. as it was at an earlier commit);
    ``code_only`` what of it counts (an earlier recipe, for carrying results over)."""
    digest = hashlib.sha256()
    for path in source_files(workload):
        if read is _read and code_only is _CodeOnly:  # parsed once per version of the file
            stat = os.stat(path)
            digest.update(_code_of(path, stat.st_mtime_ns, stat.st_size).encode())
        else:
            digest.update(_code(read(path), code_only).encode())
    fields = (
        workload.name,
        workload.batch_size,
        workload.step_hint,
        workload.eval_every,
        workload.metric,
        workload.validation_target,
        workload.test_target,
    )
    digest.update(repr(fields).encode())
    if isinstance(workload.make_model, functools.partial):  # e.g. a variant's knob
        digest.update(repr(sorted(workload.make_model.keywords.items())).encode())
    return digest.hexdigest()[:16]


def _check_range(key: str, value) -> None:
    if isinstance(value, bool | str):
        return
    if key.endswith("learning_rate") and value <= 0:
        raise UserError(f"hyperparameter '{key}' must be positive, got {value}")
    if key in REGULARIZERS and not 0.0 <= value < 1.0:
        raise UserError(f"hyperparameter '{key}' must lie in [0, 1), got {value}")


def _user_call(submission: Submission, name: str, function, *args):
    """Call a submission's own function; its errors come back as one line."""
    try:
        return function(*args)
    except UserError:
        raise
    except (Exception, SystemExit) as e:
        raise UserError(
            f"{name} in {submission.source} raised {type(e).__name__}: {e}; fix the submission"
        ) from None


def _shown_any(value) -> str:
    try:
        return _shown(value)
    except TypeError:  # not JSON: show its type
        return type(value).__name__


def _shown(value) -> str:
    try:
        text = json.dumps(value)
    except ValueError:  # an integer too long to print
        return type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def read_hparams(text: str | None) -> dict[str, Any]:
    """Parse ``--hparams``: inline JSON or the path of a JSON file."""
    if text is None:
        return {}
    source = "--hparams"
    if not text.lstrip().startswith("{"):
        if not os.path.isfile(text):
            raise UserError(
                f"--hparams {text!r} is neither a JSON object nor an existing file; "
                "pass e.g. '{\"learning_rate\": 0.001}' or a path to a .json file"
            )
        source = text
        with open(text, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{source} is not UTF-8 text; save it as UTF-8 JSON") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(
            f"malformed hyperparameter JSON in {source}: {e.msg} at line {e.lineno} column "
            f"{e.colno}; fix the JSON"
        ) from None
    except ValueError:  # e.g. an integer literal longer than Python converts
        raise UserError(f"malformed hyperparameter JSON in {source}; fix the JSON") from None
    if not isinstance(value, dict):
        raise UserError(f"hyperparameters in {source} must be a JSON object of name: number")
    return value

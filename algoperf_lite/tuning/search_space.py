"""Search spaces in AlgoPerf's JSON form, sampled by a seeded Halton sequence.

Dict form: ``{name: {"min": a, "max": b, "scaling": "log" | "linear"}}`` or
``{name: {"feasible_points": [...]}}``. Unlike AlgoPerf, whose shuffle uses
the unseeded global NumPy generator, the same seed always gives the same points.
List form: a JSON list of points, used in order: a hyperparameter *list*.
Names a space leaves out take the submission's declared defaults.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence

from scipy.stats import qmc

from algoperf_lite.core.errors import UserError


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def validate(space: Mapping) -> None:
    if not isinstance(space, Mapping) or not space:
        raise UserError("a search space must be a non-empty JSON object of name: range")
    for name, spec in space.items():
        if not isinstance(spec, Mapping):
            raise UserError(f"search space entry '{name}' must be an object")
        if "feasible_points" in spec:
            points = spec["feasible_points"]
            if not isinstance(points, list) or not points:
                raise UserError(f"'{name}': feasible_points must be a non-empty list")
        else:
            _validate_range(name, spec)


def _validate_range(name: str, spec: Mapping) -> None:
    missing = [k for k in ("min", "max", "scaling") if k not in spec]
    if missing:
        raise UserError(f"'{name}' needs min, max and scaling (or feasible_points)")
    lo, hi, scaling = spec["min"], spec["max"], spec["scaling"]
    for bound in (lo, hi):
        if not _is_number(bound):
            raise UserError(f"'{name}': min and max must be finite numbers, got {bound!r}")
    if not isinstance(scaling, str) or scaling not in ("log", "linear"):
        raise UserError(f"'{name}': scaling must be 'log' or 'linear', got {scaling!r}")
    if lo > hi:
        raise UserError(f"'{name}': min {lo} is larger than max {hi}")
    if scaling == "log" and lo <= 0:
        raise UserError(f"'{name}': log scaling needs a positive min, got {lo}")


def sample(space: Mapping, num_points: int, seed: int = 0) -> list[dict[str, float]]:
    """``num_points`` quasi-random points; the same seed gives the same points."""
    validate(space)
    names = list(space)
    unit = qmc.Halton(d=len(names), scramble=True, seed=seed).random(num_points)
    points = []
    for row in unit:
        point = {}
        for name, u in zip(names, row, strict=True):
            spec = space[name]
            if "feasible_points" in spec:
                options = spec["feasible_points"]
                point[name] = options[min(int(u * len(options)), len(options) - 1)]
            elif spec["scaling"] == "log":
                lo, hi = math.log(spec["min"]), math.log(spec["max"])
                point[name] = math.exp(lo + u * (hi - lo))
            else:
                point[name] = spec["min"] + u * (spec["max"] - spec["min"])
        points.append(point)
    return points


SPACES_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "submissions", "search_spaces"
)


def default_space(name: str) -> Mapping | list | None:
    """The search space shipped as submissions/search_spaces/<name>.json (a
    submission's own space has the submission's name), if any."""
    path = os.path.join(SPACES_DIR, f"{name}.json")
    return load(path) if os.path.exists(path) else None


def load(source) -> Mapping | list:
    """A space from a JSON file path, or an already-parsed dict or list."""
    if isinstance(source, (Mapping, list)):
        space = source
    elif not isinstance(source, (str, os.PathLike)):
        raise UserError(
            "a search space must be a JSON object, a JSON list of points, or a file path; "
            f"got {type(source).__name__}"
        )
    else:
        if not os.path.isfile(source):
            raise UserError(f"search space file not found: {source}; check the path")
        try:
            with open(source, encoding="utf-8") as f:
                space = json.load(f)
        except json.JSONDecodeError as e:
            raise UserError(
                f"malformed JSON in search space {source}: {e.msg} at line {e.lineno}; fix the JSON"
            ) from None
        except UnicodeDecodeError:
            raise UserError(f"search space {source} is not UTF-8 text; save it as UTF-8") from None
    if isinstance(space, list):
        if not space or not all(isinstance(p, Mapping) for p in space):
            raise UserError("a hyperparameter list must be a non-empty JSON list of objects")
    else:
        validate(space)
    return space


def check_names(space, known: Sequence[str], submission: str) -> None:
    """Refuse names the submission does not declare."""
    names = set().union(*(p.keys() for p in space)) if isinstance(space, list) else set(space)
    unknown = sorted(names - set(known))
    if unknown:
        raise UserError(
            f"search space names '{unknown[0]}', which submission '{submission}' does not "
            f"declare; expected names: {', '.join(known)}"
        )


def points(space, num_points: int, seed: int = 0) -> list[dict]:
    """The first ``num_points`` of a list, or Halton samples of a dict space."""
    if isinstance(space, list):
        return [dict(p) for p in space[:num_points]]
    return sample(space, num_points, seed)


def learning_rate_range(path: str | None) -> list[float] | None:
    """The lowest and highest learning rate a list of points in the file at
    ``path`` tries; None where there is no such file or it sets no learning rate."""
    if path is None or not os.path.exists(path):
        return None
    points = load(path)
    rates = [p["learning_rate"] for p in points if isinstance(p, dict) and "learning_rate" in p]
    return [min(rates), max(rates)] if rates else None

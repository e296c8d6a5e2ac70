"""Search spaces in AlgoPerf's JSON form, sampled by a seeded Halton sequence.

Dict form: ``{name: {"min": a, "max": b, "scaling": "log" | "linear"}}`` or
``{name: {"feasible_points": [...]}}``. Unlike AlgoPerf, whose shuffle uses
the unseeded global NumPy generator, the same seed always gives the same points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scipy.stats import qmc

from algoperf_lite.errors import UserError


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
            continue
        missing = [k for k in ("min", "max", "scaling") if k not in spec]
        if missing:
            raise UserError(f"'{name}' needs min, max and scaling (or feasible_points)")
        lo, hi, scaling = spec["min"], spec["max"], spec["scaling"]
        if scaling not in ("log", "linear"):
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

"""Registered workloads: name -> declaration, with targets and step budgets
read from ``targets.json`` (written by ``scripts/set_targets.py``; see the
README's "Targets" section for the procedure and provenance)."""

import dataclasses
import json
import os

from algoperf_lite.errors import UserError
from workloads import digits, mnist1d

_DECLARED = (mnist1d.MLP, mnist1d.CNN, digits.CNN)
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


def get_workload(name: str):
    try:
        return WORKLOADS[name]
    except KeyError:
        raise UserError(f"unknown workload '{name}'; known: {', '.join(WORKLOADS)}") from None

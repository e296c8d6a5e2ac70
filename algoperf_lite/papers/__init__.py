"""The five papers' reproductions, each regenerating its tables from committed data.

Every paper is one module (or one folder once it grows) with the same three
functions, so that ``make
reproduce`` is one loop over ``PAPERS``:

- ``get_config() -> ml_collections.ConfigDict``: its settings (what it runs on,
  seeds, sizes, files); the docstring gives the commands that regenerate its
  tables and how long they take;
- ``run(config, results)``: reruns (resumes, from its journal) the runs or
  sweeps behind its tables, into the results folder;
- ``report(config, results) -> list[str]``: writes its tables and figures from
  what is committed there, and returns their paths.

A sixth paper is one module and one line here; ``tests/papers`` checks every
entry against the protocol. ``scripts/reproduce.py`` overrides a setting as
``--<paper>.<field>=value`` (Flax examples' ``--config.foo=bar``).
"""

import importlib

# name -> module; in the order reproduce writes them (imported on first use).
PAPERS = {
    "lists": "algoperf_lite.papers.lists",
    "integrators": "algoperf_lite.papers.integrators_study",
    "hypergradient": "algoperf_lite.papers.hypergradient",
    "importance": "algoperf_lite.papers.importance_study",
    "landscapes": "algoperf_lite.papers.landscape_study",
}


def get_paper(name: str):
    """The module of a registered paper."""
    if name not in PAPERS:
        raise KeyError(f"unknown paper {name!r}; known: {', '.join(PAPERS)}")
    return importlib.import_module(PAPERS[name])

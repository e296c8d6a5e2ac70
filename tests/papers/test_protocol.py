"""Every registered paper follows one protocol (``algoperf_lite.papers``):
``get_config() -> ConfigDict`` whose docstring gives the commands that
regenerate its tables, ``run(config, results)`` and ``report(config, results)``;
``scripts/reproduce.py`` applies ``--NAME.field=value`` overrides."""

import filecmp
import inspect
import os
import shutil
import subprocess
import sys

import ml_collections
import pytest

from algoperf_lite.papers import PAPERS, get_paper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "results")


@pytest.mark.parametrize("name", list(PAPERS))
def test_every_paper_follows_the_protocol(name):
    paper = get_paper(name)
    config = paper.get_config()
    assert isinstance(config, ml_collections.ConfigDict) and len(config) > 0
    doc = inspect.getdoc(paper.get_config)
    assert f"python scripts/reproduce.py --paper {name}" in doc
    assert f"python scripts/reproduce.py --rerun {name}" in doc
    for function in (paper.run, paper.report):
        assert list(inspect.signature(function).parameters) == ["config", "results"]


def test_an_unknown_paper_is_refused_with_the_known_names():
    with pytest.raises(KeyError, match="known: lists, integrators"):
        get_paper("nope")


def reproduce(*args):
    command = [sys.executable, os.path.join(ROOT, "scripts", "reproduce.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_a_report_regenerates_its_committed_table_with_an_overridden_setting(tmp_path):
    # The runs under another name: the table comes out only if the override is applied.
    shutil.copy(os.path.join(RESULTS, "integrators.jsonl"), tmp_path / "renamed.jsonl")
    done = reproduce(
        "--paper=integrators", "--integrators.data_file=renamed.jsonl", f"--results={tmp_path}"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert filecmp.cmp(tmp_path / "integrators.md", os.path.join(RESULTS, "integrators.md"), False)


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--integrators.no_such_field=3", "no setting 'no_such_field'"),
        ("--lists.num_points=many", "--lists.num_points=many"),
        ("--integrators.lanes=many", "--integrators.lanes=many"),
        ("--paper=nope", "value should be one of"),
    ],
)
def test_bad_flags_are_one_line_errors(flag, message):
    done = reproduce(flag)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr

"""The README's submission example runs as written."""

import os
import re

from algoperf_lite import load_submission, run_trial
from workloads import WORKLOADS

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")


def test_readme_submission_example_trains(tmp_path):
    text = open(README).read()
    blocks = re.findall(r"```python\n(# my_submission\.py\n.*?)```", text, re.S)
    assert len(blocks) == 1
    path = tmp_path / "my_submission.py"
    path.write_text(blocks[0])
    assert "--submission my_submission.py" in text
    submission = load_submission(str(path))
    w = WORKLOADS["mnist1d_mlp"]
    result = run_trial(w, submission, seed=0, max_steps=2 * w.eval_every)
    first, last = result.rows[0], result.rows[-1]
    assert last["train/loss"] < first["train/loss"] and last["validation/accuracy"] > 0.3


def test_readme_opens_with_the_two_commands():
    head = open(README).read().split("##")[0]
    assert head.index("make reproduce") < head.index("make test")


def test_readme_workload_example_runs_from_the_command_line(tmp_path, capsys):
    from algoperf_lite import cli

    text = open(README).read()
    blocks = re.findall(r"```python\n(# my_workload\.py\n.*?)```", text, re.S)
    assert len(blocks) == 1
    (tmp_path / "my_workload.py").write_text(blocks[0])
    command = re.search(r"algoperf-lite (run --workload my_workload\.py:\S+ .*)", text).group(1)
    argv = command.split() + ["--output", str(tmp_path / "runs")]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert cli.main(argv) == 0
    finally:
        os.chdir(cwd)
    assert "halfplane / nadamw (seed 0): target_reached" in capsys.readouterr().out


def test_readme_workload_table_matches_the_registry():
    text = open(README).read()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", text, re.M)}
    for name, w in WORKLOADS.items():
        assert name in rows, f"README lacks a row for {name}"
        cells = [c.strip() for c in rows[name].split("|")[1:-1]]
        assert cells[6] == str(w.step_hint)
        target = cells[5].rstrip("*")
        assert abs(float(target) - w.validation_target) <= 5e-4 * abs(w.validation_target)
        assert cells[5].endswith("*") == bool((w.provenance or {}).get("provisional"))


def test_readme_vectorized_example_runs(capsys):
    text = open(README).read()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "run_trials(" in b]
    assert len(blocks) == 1
    exec(compile(blocks[0], "README", "exec"), {})
    statuses = eval(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(statuses) == 4 and set(statuses) <= {"target_reached", "missed", "diverged"}

"""The command line: listings, a run, and one-line errors with exit status 2."""

import json
import os
import subprocess
import sys

import pytest

from algoperf_lite.cli import main
from algoperf_lite.compat.algoperf.spec import ParameterType

PARAMETER_TYPES = {t.name for t in ParameterType}

HERE = os.path.dirname(os.path.dirname(__file__))
DATA = os.path.join(HERE, "data")


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cached_workload_catalog_is_current():
    # `workloads` lists from the catalog without importing JAX; it must say what
    # the registry says (after changing a workload: algoperf-lite workloads --refresh).
    from algoperf_lite.cli import registry

    with open(registry.catalog_path()) as f:
        cached = json.load(f)
    assert cached == json.loads(json.dumps(registry.catalog_rows()))


def test_workloads_and_argument_errors_import_no_jax():
    code = (
        "import sys; from algoperf_lite.cli import main; main(['workloads']); "
        "assert main(['run', '--workload', 'mnist1d_mlp']) == 2; "
        "heavy = [m for m in ('jax', 'flax', 'tensorflow_datasets', 'optuna', 'matplotlib') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "mnist1d_mlp" in done.stdout


def test_workloads_json_lists_every_workload(capsys):
    from workloads import WORKLOADS

    code, out, _ = run_cli(capsys, "workloads", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == list(WORKLOADS)
    for row in rows:
        assert {"name", "metric", "target", "higher_is_better", "step_hint", "offline"} <= set(row)
        assert row["metric"].startswith("validation/") and row["offline"] == (
            row["suite"] != "tfds"
        )
        assert isinstance(row["target"], float) and row["step_hint"] > 0
        assert row["parameters"] > 0 and set(row["param_types"].values()) <= PARAMETER_TYPES
        assert row["metric"] in row["eval_metrics"]["validation"]


def test_run_prints_a_summary_and_writes_the_trial(capsys, tmp_path):
    code, out, _ = run_cli(
        capsys,
        "run",
        "--workload",
        "mnist1d_mlp",
        "--submission",
        "sgd",
        "--seed",
        "2",
        "--max-steps",
        "120",
        "--output",
        str(tmp_path),
        "--hparams",
        '{"learning_rate": 0.02}',
    )
    assert code == 0
    assert "mnist1d_mlp / sgd (seed 2): missed, stopped by step_budget at step 120" in out
    trial = tmp_path / "study_0" / "mnist1d_mlp_jax" / "trial_1"
    assert json.loads((trial / "result.json").read_text())["hparams"]["learning_rate"] == 0.02
    code, out, _ = run_cli(
        capsys,
        "run",
        "--workload",
        "mnist1d_mlp",
        "--submission",
        "sgd",
        "--seed",
        "2",
        "--max-steps",
        "120",
        "--output",
        str(tmp_path),
        "--hparams",
        '{"learning_rate": 0.02}',
    )
    assert code == 0 and out.startswith("already complete:")


BAD_INPUTS = {
    "unknown workload": (
        ["--workload", "cifar11"],
        "unknown workload 'cifar11'; known: mnist1d_mlp",
    ),
    "missing file": (["--submission", "nope/missing.py"], "submission file not found"),
    "unknown submission": (["--submission", "adamx"], "unknown submission 'adamx'; known: nadamw"),
    "no make_optimizer": (
        ["--submission", os.path.join(DATA, "no_factory.py")],
        "no make_optimizer",
    ),
    "malformed json": (["--hparams", '{"learning_rate": 0.1,}'], "malformed hyperparameter JSON"),
    "not json nor file": (["--hparams", "lr=0.1"], "neither a JSON object nor an existing file"),
    "misspelled name": (
        ["--hparams", '{"learnig_rate": 0.1}'],
        "unknown hyperparameter 'learnig_rate' for submission 'nadamw' "
        "(did you mean 'learning_rate'?)",
    ),
    "missing name": (
        ["--submission", os.path.join(DATA, "needs_momentum.py")],
        "missing hyperparameter 'momentum'",
    ),
    "non-positive lr": (
        ["--hparams", '{"learning_rate": -0.001}'],
        "'learning_rate' must be positive",
    ),
    "zero lr": (["--hparams", '{"learning_rate": 0}'], "'learning_rate' must be positive"),
    "string value": (["--hparams", '{"beta2": "high"}'], "'beta2' must be a number"),
    "dropout out of range": (
        ["--hparams", '{"dropout_rate": 1.5}'],
        "'dropout_rate' must lie in [0, 1)",
    ),
    "unwritable output": (
        ["--output", os.path.join(DATA, "no_factory.py", "x")],
        "cannot be written",
    ),
    "bad integer": (["--seed", "one"], "invalid int value: 'one'"),
    "zero steps": (["--max-steps", "0"], "--max-steps must be at least 1"),
}


BAD_RUN_INPUTS = {
    "negative seed": (["--seed", "-1"], "expected a seed from 0 to 2147483647, got '-1'"),
    "nan seconds": (["--max-seconds", "nan"], "expected a finite number of seconds > 0"),
    "make_optimizer raises": (
        ["--submission", os.path.join(DATA, "raising_factory.py")],
        "make_optimizer in ",
    ),
    "not a transformation": (
        ["--submission", os.path.join(DATA, "not_a_transformation.py")],
        "returned dict, not an optax.GradientTransformation",
    ),
    "batch size 0": (
        ["--submission", os.path.join(DATA, "batch_size_zero.py")],
        "returned 0 for 'mnist1d_mlp'; return a positive integer",
    ),
    "batch size string": (
        ["--submission", os.path.join(DATA, "batch_size_string.py")],
        'returned "64" for',
    ),
    "exit at import": (
        ["--submission", os.path.join(DATA, "exits_at_import.py")],
        "could not import submission file",
    ),
    "hparams not utf-8": (
        ["--hparams", os.path.join(DATA, "not_utf8.json")],
        "is not UTF-8 text",
    ),
    "workload batch size 0": (
        ["--workload", os.path.join(DATA, "zero_batch_size.py") + ":BAD"],
        "declares batch_size=0; it must be a positive integer",
    ),
    "workload eval_every 0": (
        ["--workload", os.path.join(DATA, "zero_eval_every.py") + ":BAD"],
        "declares eval_every=0",
    ),
    "workload without test split": (
        ["--workload", os.path.join(DATA, "bad_workloads.py") + ":NO_TEST"],
        "returned no 'test' split",
    ),
    "workload data raises": (
        ["--workload", os.path.join(DATA, "bad_workloads.py") + ":RAISES"],
        "load_splits of workload 'raises' raised OSError: the data server is down",
    ),
}

BAD_INPUTS.update(BAD_RUN_INPUTS)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, case):
    extra, expected = BAD_INPUTS[case]
    argv = {"--workload": "mnist1d_mlp", "--submission": "nadamw", "--max-steps": "5"}
    argv["--output"] = str(tmp_path)
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        argv[flag] = value
    code, out, err = run_cli(capsys, "run", *[x for kv in argv.items() for x in kv])
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("algoperf-lite: error: "), err
    assert expected in err and "Traceback" not in err


def test_hparams_from_a_file(capsys, tmp_path):
    path = tmp_path / "hp.json"
    path.write_text('{"learning_rate": 0.003, "warmup_factor": 0.1}')
    code, out, err = run_cli(
        capsys,
        "run",
        "--workload",
        "mnist1d_mlp",
        "--submission",
        "nadamw",
        "--hparams",
        str(path),
        "--max-steps",
        "5",
        "--output",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    stored = tmp_path / "out" / "study_0" / "mnist1d_mlp_jax" / "trial_1" / "hparams.json"
    assert json.loads(stored.read_text())["learning_rate"] == 0.003


def test_console_script_end_to_end():
    """The installed entry point: exit status and stderr as a user sees them."""
    command = [
        sys.executable,
        "-m",
        "algoperf_lite.cli",
        "run",
        "--workload",
        "nope",
        "--submission",
        "nadamw",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("algoperf-lite: error: unknown workload 'nope'; known: mnist1d_mlp,")
    assert lines[0].endswith("(or give path/to/file.py:NAME)")


def test_bad_tune_score_and_analyze_inputs(capsys, tmp_path):
    space = os.path.join(DATA, "not_utf8.json")
    cases = {
        "tune seed": (
            ["tune", "--workload", "digits_logreg", "--submission", "sgd", "--seed", "-1"],
            "expected a seed from 0",
        ),
        "tune self with space": (
            ["tune", "--workload", "digits_logreg", "--submission", "sgd", "--ruleset", "self"]
            + ["--search-space", space],
            "self-tuning takes no search space",
        ),
        "space not utf-8": (
            ["tune", "--workload", "digits_logreg", "--submission", "sgd"]
            + ["--search-space", space],
            "is not UTF-8",
        ),
        "targets not utf-8": (["score", str(tmp_path), "--targets", space], "not UTF-8"),
        "importance k 0": (
            ["analyze", "importance", "results/sweeps/nadamw_broad.csv.gz", "--k", "0"],
            "argument --k: expected a positive integer, got '0'",
        ),
        "trials 0": (
            ["tune", "--workload", "digits_logreg", "--submission", "sgd", "--trials", "0"],
            "argument --trials: expected a positive integer",
        ),
    }
    for name, (argv, expected) in cases.items():
        if argv[0] == "tune":
            argv = [*argv, "--output", str(tmp_path / "out")]
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err, (name, err)


def test_a_full_disk_is_one_line_exit_2(capsys, tmp_path, monkeypatch):
    import errno

    from algoperf_lite.core import io

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(io, "write_atomic", full)
    code, _, err = run_cli(
        capsys,
        "run",
        "--workload",
        "digits_logreg",
        "--submission",
        "sgd",
        "--max-steps",
        "2",
        "--output",
        str(tmp_path),
    )
    assert code == 2 and err.count("\n") == 1
    assert "the disk is full writing" in err and "finished trials are kept" in err

"""Property-based tests: bad input anywhere gives a one-line error and exit 2,
never a traceback and never a wrong score."""

import csv
import io as stdio
import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from algoperf_lite import UserError, load_submission
from algoperf_lite.analysis.experiments import Target, trial_time
from algoperf_lite.cli import main
from algoperf_lite.core import io
from algoperf_lite.tuning import search_space

SETTINGS = settings(
    max_examples=int(os.environ.get("BAD_INPUT_EXAMPLES", 150)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=6)
    | st.sampled_from([10**400, -0.0, 1e308, "log", "linear"])
)
json_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)
spec_keys = st.sampled_from(["min", "max", "scaling", "feasible_points", "step"])
specs = st.dictionaries(spec_keys, json_values, max_size=4) | json_values
spaces = st.dictionaries(st.text(max_size=8), specs, max_size=3) | json_values


@pytest.fixture
def counter(record_property):
    count = {"bad": 0}
    yield count
    record_property("bad_inputs", count["bad"])


@SETTINGS
@given(space=spaces, n=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_search_spaces(counter, space, n, seed):
    nadamw = load_submission("nadamw")
    try:
        loaded = search_space.load(space)
        search_space.check_names(loaded, list(nadamw.hparams), "nadamw")
        points = search_space.points(loaded, n, seed)
    except UserError as e:
        counter["bad"] += 1
        assert str(e)
        return
    assert isinstance(points, list) and all(isinstance(p, dict) for p in points)
    if isinstance(loaded, dict):
        for p in points:
            for name, spec in loaded.items():
                if "feasible_points" in spec:
                    assert p[name] in spec["feasible_points"]
                else:
                    assert (
                        spec["min"] <= p[name] <= spec["max"]
                        or math.isclose(p[name], spec["min"])
                        or math.isclose(p[name], spec["max"])
                    )


names = st.sampled_from(["learning_rate", "beta2", "dropout_rate", "label_smoothing"]) | st.text(
    max_size=8
)


@SETTINGS
@given(point=st.dictionaries(names, json_values, max_size=4) | json_values)
def test_hyperparameter_points(counter, point):
    nadamw = load_submission("nadamw")
    try:
        resolved = nadamw.resolve_hparams(point)
    except UserError as e:
        counter["bad"] += 1
        assert str(e)
        return
    assert set(resolved) == set(nadamw.hparams)
    assert all(isinstance(v, float) and math.isfinite(v) for v in resolved.values())
    assert resolved["learning_rate"] > 0 and 0 <= resolved["dropout_rate"] < 1


words = st.text(max_size=10) | st.sampled_from(["-1", "0", "x", "1e9", "{", "{}", "[1]", ""])
hparam_texts = words | json_values.map(json.dumps)


@SETTINGS
@given(
    command=st.sampled_from(["run", "tune", "score", "lists", "workloads", "bench"]),
    workload=st.sampled_from(["mnist1d_mlp", "nope"]) | st.text(max_size=6),
    submission=st.sampled_from(["nadamw", "sgd", "tests/data/no_factory.py"]) | words,
    hparams=hparam_texts,
    steps=st.sampled_from(["-3", "0", "x", "1", "2"]),
    extra=st.lists(words, max_size=2),
)
def test_command_lines(
    counter, tmp_path, capsys, command, workload, submission, hparams, steps, extra
):
    out = str(tmp_path / "out")
    if command == "run":
        argv = [
            "run",
            "--workload",
            workload,
            "--submission",
            submission,
            "--hparams",
            hparams,
            "--max-steps",
            steps,
            "--output",
            out,
        ]
    elif command == "tune":  # always invalid somewhere: a valid tune would train for minutes
        argv = [
            "tune",
            "--workload",
            workload,
            "--submission",
            submission,
            "--trials",
            steps if steps in ("-3", "0", "x") else "0",
            "--output",
            out,
        ]
    elif command == "score":
        argv = ["score", str(tmp_path / "missing"), *extra]
    elif command == "lists":
        argv = ["lists", "build", str(tmp_path / "none.csv.gz"), *extra]
    else:
        argv = [command, *extra]
    code = main(argv)
    captured = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        counter["bad"] += 1
        lines = captured.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("algoperf-lite: error: "), captured.err
        assert "Traceback" not in captured.err


HEADER = ["global_step", "score", "validation/accuracy"]
TARGET = Target("validation/accuracy", 0.9, True)


def oracle(text):
    """An independent reading: None if the file is malformed, else time to target."""
    if text and not text.endswith("\n"):
        return None
    rows = list(csv.reader(stdio.StringIO(text)))
    if len(rows) < 2:
        return math.inf  # no evaluation at all (e.g. diverged before the first): a miss
    header, body = rows[0], rows[1:]
    if any(c not in header for c in ("global_step", "validation/accuracy")):
        return None
    series = []
    for row in body:  # every row must be whole and numeric
        if len(row) != len(header):
            return None
        record = dict(zip(header, row, strict=True))
        try:
            series.append((float(record["validation/accuracy"]), float(record["global_step"])))
        except ValueError:
            return None
    return next((step for value, step in series if math.isfinite(value) and value >= 0.9), math.inf)


@st.composite
def damaged_csvs(draw):
    values = draw(st.lists(st.floats(0, 1), min_size=0, max_size=6))
    lines = [",".join(HEADER)] + [f"{100 * (i + 1)},{i},{v}" for i, v in enumerate(values)]
    text = "\n".join(lines) + "\n"
    how = draw(st.sampled_from(["none", "truncate", "drop_column", "cell", "extra", "garbage"]))
    if how == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "drop_column":
        text = text.replace("validation/accuracy", draw(st.sampled_from(["", "val/acc", "x"])), 1)
    elif how == "cell" and values:
        i = draw(st.integers(1, len(values)))
        parts = text.split("\n")
        parts[i] = parts[i].rsplit(",", 1)[0] + "," + draw(words.filter(lambda w: "\n" not in w))
        text = "\n".join(parts)
    elif how == "extra" and values:
        text = text.replace("\n", ",7\n", 2)
    elif how == "garbage":
        text = draw(st.text(max_size=30))
    return text


@SETTINGS
@given(text=damaged_csvs())
def test_scorer_reads_damaged_trial_files_correctly_or_refuses(counter, tmp_path, text):
    path = os.path.join(tmp_path, io.MEASUREMENTS_FILE)
    with open(path, "w", newline="") as f:
        f.write(text)
    expected = oracle(text)
    try:
        got = trial_time(path, TARGET)
    except UserError as e:
        counter["bad"] += 1
        assert expected is None, f"refused a readable file: {e}"
        return
    assert expected is not None, f"read a malformed file as {got}"
    assert got == expected


# --- CLI numbers ---------------------------------------------------------------

NUMBER_FLAGS = {
    "--seed": lambda t: t.isdigit() and int(t) <= 2**31 - 1,
    "--trial": lambda t: t.isdigit() and int(t) >= 1,
    "--checkpoint-every": lambda t: t.isdigit() and int(t) >= 1,
    "--max-seconds": lambda t: _positive_finite(t),
    "--checkpoint-seconds": lambda t: _positive_finite(t),
}


def _positive_finite(text):
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value > 0


number_texts = (
    st.integers(-(2**40), 2**40).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.sampled_from(["nan", "inf", "-0", "1e-300", "2147483648", "0x10", "1_000", " 3"])
    | st.text(max_size=5)
)


@settings(SETTINGS, max_examples=min(SETTINGS.max_examples, 60))
@given(flag=st.sampled_from(sorted(NUMBER_FLAGS)), text=number_texts)
def test_cli_numbers(counter, tmp_path, capsys, flag, text):
    out = str(tmp_path / f"out{abs(hash((flag, text)))}")
    argv = ["run", "--workload", "digits_logreg", "--submission", "sgd", "--max-steps", "2"]
    code = main([*argv, "--output", out, f"{flag}={text}"])
    captured = capsys.readouterr()
    valid = NUMBER_FLAGS[flag](text)
    assert code == (0 if valid else 2), (flag, text, captured.err)
    if code == 2:
        counter["bad"] += 1
        lines = captured.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("algoperf-lite: error: "), captured.err


# --- User code -----------------------------------------------------------------

FACTORIES = {
    "raise": ("raise RuntimeError('boom')", False),
    "none": ("return None", False),
    "number": ("return 3", False),
    "dict": ("return {'lr': hparams['learning_rate']}", False),
    "sgd": ("return optax.sgd(hparams['learning_rate'])", True),
}
BATCH_SIZES = {
    "absent": (None, True),
    "zero": ("return 0", False),
    "negative": ("return -5", False),
    "string": ("return '64'", False),
    "float": ("return 64.0", False),
    "bool": ("return True", False),
    "good": ("return 32", True),
    "raise": ("raise KeyError(workload_name)", False),
}
MODULE_LEVEL = {"plain": ("", True), "exit": ("sys.exit(0)", False), "fail": ("1 / 0", False)}


@settings(SETTINGS, max_examples=min(SETTINGS.max_examples, 40))
@given(
    factory=st.sampled_from(sorted(FACTORIES)),
    batch=st.sampled_from(sorted(BATCH_SIZES)),
    module=st.sampled_from(sorted(MODULE_LEVEL)),
)
def test_user_code(counter, tmp_path, capsys, factory, batch, module):
    body, factory_ok = FACTORIES[factory]
    batch_body, batch_ok = BATCH_SIZES[batch]
    top, module_ok = MODULE_LEVEL[module]
    source = ["import sys", "import optax", top, "HPARAMS = {'learning_rate': 0.1}", ""]
    source += ["def make_optimizer(hparams, step_hint):", f"    {body}", ""]
    if batch_body is not None:
        source += ["def get_batch_size(workload_name):", f"    {batch_body}", ""]
    path = tmp_path / f"sub_{factory}_{batch}_{module}.py"
    path.write_text("\n".join(source))
    out = str(tmp_path / f"out_{factory}_{batch}_{module}")
    argv = ["run", "--workload", "digits_logreg", "--submission", str(path), "--max-steps", "2"]
    code = main([*argv, "--output", out])
    captured = capsys.readouterr()
    valid = factory_ok and batch_ok and module_ok
    assert code == (0 if valid else 2), (factory, batch, module, captured.err)
    if code == 2:
        counter["bad"] += 1
        lines = captured.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("algoperf-lite: error: "), captured.err


# --- Tampered experiment folders -------------------------------------------------


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    from algoperf_lite.tuning.study import tune
    from workloads import WORKLOADS

    out = str(tmp_path_factory.mktemp("tamper") / "sgd")
    space = [{"learning_rate": 0.3}, {"learning_rate": 0.01}]
    tune(
        [WORKLOADS["digits_logreg"]],
        load_submission("sgd"),
        space,
        output=out,
        trials=2,
        studies=2,
        progress=False,
    )
    return out


def oracle_times(folder):
    """The experiment's time, read independently from its untouched result files."""
    studies = []
    for study in sorted(os.listdir(folder)):
        if not study.startswith("study_"):
            continue
        base = os.path.join(folder, study, "digits_logreg_jax")
        steps = []
        for trial in sorted(os.listdir(base)):
            if not trial.startswith("trial_"):
                continue  # the lock files beside the trial folders
            result = json.load(open(os.path.join(base, trial, "result.json")))
            steps.append(result["steps_to_target"] or math.inf)
        studies.append(min(steps))
    studies.sort()
    return {"digits_logreg": (studies[0] + studies[1]) / 2}


TRIAL_FILES = ("eval_measurements.csv", "result.json", "hparams.json")
RESULT_FIELDS = (
    "status",
    "steps_to_target",
    "submission",
    "max_steps",
    "steps",
    "target",
    "measurements_sha256",
    "step_hint",
    "submission_hash",
    "compile_time_sec",
)


@st.composite
def tamperings(draw):
    study, trial = draw(st.integers(0, 1)), draw(st.integers(1, 2))
    where = f"study_{study}/digits_logreg_jax/trial_{trial}"
    how = draw(
        st.sampled_from(
            ["none", "cell", "cut", "delete", "field", "drop_study", "copy_trial", "manifest"]
        )
    )
    detail = {
        "file": draw(st.sampled_from(TRIAL_FILES)),
        "field": draw(st.sampled_from(RESULT_FIELDS)),
        "value": draw(json_values),
        "at": draw(st.integers(0, 10**4)),
        "text": draw(st.text(max_size=8)),
    }
    return where, how, detail


@settings(SETTINGS, max_examples=min(SETTINGS.max_examples, 80))
@given(tampering=tamperings())
def test_tampered_folders_are_refused_or_scored_correctly(counter, experiment, tmp_path, tampering):
    import shutil
    import tempfile

    from algoperf_lite.analysis.scoring import score

    expected = oracle_times(experiment)
    copy = os.path.join(tempfile.mkdtemp(dir=tmp_path), "sgd")
    shutil.copytree(experiment, copy)
    where, how, d = tampering
    trial = os.path.join(copy, where)
    if how == "cell":
        path = os.path.join(trial, "eval_measurements.csv")
        text = open(path).read()
        i = d["at"] % len(text)
        open(path, "w").write(text[:i] + d["text"] + text[i + 1 :])
    elif how == "cut":
        path = os.path.join(trial, d["file"])
        text = open(path).read()
        open(path, "w").write(text[: d["at"] % (len(text) + 1)])
    elif how == "delete":
        os.remove(os.path.join(trial, d["file"]))
    elif how == "field":
        path = os.path.join(trial, "result.json")
        stored = json.load(open(path))
        stored[d["field"]] = d["value"]
        open(path, "w").write(json.dumps(stored))
    elif how == "drop_study":
        shutil.rmtree(os.path.dirname(os.path.dirname(trial)))
    elif how == "copy_trial":
        shutil.copytree(trial, os.path.join(os.path.dirname(trial), "trial_9"))
    elif how == "manifest":
        os.remove(os.path.join(copy, "manifest.json"))
    try:
        got = score({"sgd": copy}).times["sgd"]
    except UserError as e:
        counter["bad"] += 1
        assert "\n" not in str(e).strip()
        return
    assert got == expected, (how, d)

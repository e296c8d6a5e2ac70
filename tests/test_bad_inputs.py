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

from algoperf_lite import UserError, io, load_submission, search_space
from algoperf_lite.cli import main
from algoperf_lite.scoring import Target, trial_time

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

"""Results that check themselves: every tampering case is refused with one line,
damaged results are redone, and one process at a time writes a trial."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from algoperf_lite import UserError, load_submission
from algoperf_lite.analysis.scoring import score
from algoperf_lite.core import io
from algoperf_lite.train import records
from algoperf_lite.train.loop import run_trial
from algoperf_lite.tuning.study import tune
from workloads import WORKLOADS

LOGREG = WORKLOADS["digits_logreg"]
SPACES = {
    "nadamw": [{"learning_rate": 0.01}, {"learning_rate": 0.002}],
    "sgd": [{"learning_rate": 0.3}, {"learning_rate": 0.01}],
}


@pytest.fixture(scope="module")
def experiments(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    for name, space in SPACES.items():
        tune(
            [LOGREG],
            load_submission(name),
            space,
            output=str(root / name),
            trials=2,
            studies=2,
            progress=False,
        )
    return root


@pytest.fixture
def copies(experiments, tmp_path):
    for name in SPACES:
        shutil.copytree(experiments / name, tmp_path / name)
    return {name: str(tmp_path / name) for name in SPACES}


def trial(folder, study=0, number=1):
    return io.trial_dir(folder, LOGREG.name, trial=number, study=f"study_{study}")


def csv_of(folder, study=0, number=1):
    return os.path.join(trial(folder, study, number), io.MEASUREMENTS_FILE)


def refused(copies, match):
    with pytest.raises(UserError, match=match):
        score(copies)


def test_untouched_results_score_and_record_digest_and_manifest(copies):
    report = score(copies)
    assert set(report.scores) == set(SPACES)
    stored = io.read_json(os.path.join(trial(copies["sgd"]), io.RESULT_FILE))
    assert stored["measurements_sha256"] == records.digest(csv_of(copies["sgd"]))
    manifest = records.read_manifest(copies["sgd"])
    assert manifest["submission"] == "sgd" and len(manifest["trials"]) == 4


def test_an_edited_value_is_refused(copies):
    path = csv_of(copies["sgd"], number=2)
    lines = open(path).read().splitlines()
    header = lines[0].split(",")
    column = header.index("validation/loss")
    row = lines[1].split(",")
    row[column] = "0.0001"  # as if the trial had reached the target at once
    lines[1] = ",".join(row)
    open(path, "w").write("\n".join(lines) + "\n")
    refused(copies, "was changed after the trial finished")


@pytest.mark.parametrize("how", ["deleted", "empty", "cut at a line"])
def test_a_missing_or_damaged_csv_is_refused(copies, how):
    path = csv_of(copies["nadamw"])
    if how == "deleted":
        os.remove(path)
    else:
        lines = open(path).read().splitlines(keepends=True)
        open(path, "w").write("" if how == "empty" else "".join(lines[:-1]))
    refused(copies, "missing|changed after the trial finished")


def test_deleted_study_folders_are_refused(copies):
    shutil.rmtree(os.path.join(copies["nadamw"], "study_1"))
    refused(copies, "study_1/digits_logreg_jax/trial_1 is missing")


def test_another_submissions_study_is_refused(copies):
    target = os.path.join(copies["nadamw"], "study_1")
    shutil.rmtree(target)
    shutil.copytree(os.path.join(copies["sgd"], "study_1"), target)
    refused(copies, "holds a trial of submission 'sgd', but its experiment is 'nadamw's")


def test_a_folder_not_launched_is_refused(copies):
    shutil.copytree(os.path.join(copies["sgd"], "study_1"), os.path.join(copies["sgd"], "study_7"))
    refused(copies, "study_7/digits_logreg_jax/trial_1 was not launched by this experiment")


def test_a_status_that_disagrees_with_the_measurements_is_refused(copies):
    path = os.path.join(trial(copies["sgd"], number=2), io.RESULT_FILE)
    stored = io.read_json(path)
    assert stored["status"] == "missed"
    rows = open(csv_of(copies["sgd"], number=2)).read().splitlines()
    stored.update(status="target_reached", steps_to_target=int(rows[1].split(",")[0]))
    io.write_json(path, stored)
    refused(copies, "says target_reached .* but its measurements disagree")


def test_a_trial_beyond_its_budget_is_refused(copies):
    folder = trial(copies["sgd"], study=0, number=1)
    shutil.rmtree(folder)
    run_trial(
        LOGREG,
        load_submission("sgd"),
        SPACES["sgd"][0],
        max_steps=2 * LOGREG.step_hint,
        output_dir=folder,
    )
    refused(copies, "beyond its budget")


def test_without_records_scoring_needs_the_explicit_flag(copies):
    for path in [os.path.join(copies["sgd"], records.MANIFEST_FILE)]:
        os.remove(path)
    refused(copies, "has no manifest.json.*--unverified")
    for root, _, files in os.walk(copies["sgd"]):  # as AlgoPerf writes it: CSVs only
        for f in files:
            if f != io.MEASUREMENTS_FILE:
                os.remove(os.path.join(root, f))
    assert set(score(copies, verify=False).scores) == set(SPACES)


def test_rerunning_repairs_a_damaged_trial(copies, capsys):
    folder = trial(copies["nadamw"])
    os.remove(os.path.join(folder, io.MEASUREMENTS_FILE))
    point = SPACES["nadamw"][0]
    hp = json.loads(open(os.path.join(folder, io.HPARAMS_FILE)).read())
    assert hp["learning_rate"] == point["learning_rate"]
    seed = io.read_json(os.path.join(folder, io.RESULT_FILE))["seed"]
    again = run_trial(LOGREG, load_submission("nadamw"), point, seed=seed, output_dir=folder)
    assert not again.skipped and "missing; redoing the trial" in capsys.readouterr().err
    open(os.path.join(folder, io.RESULT_FILE), "w").write('{"status": "target_rea')  # cut
    again = run_trial(LOGREG, load_submission("nadamw"), point, seed=seed, output_dir=folder)
    assert not again.skipped and "is damaged" in capsys.readouterr().err
    assert set(score(copies).scores) == set(SPACES)  # repaired: it scores again


def test_a_damaged_checkpoint_starts_afresh(tmp_path, capsys):
    folder = str(tmp_path / "trial")
    sgd = load_submission("sgd")
    first = run_trial(
        LOGREG, sgd, max_steps=60, output_dir=folder, checkpoint_every=20, stop_at_target=False
    )
    os.remove(os.path.join(folder, io.RESULT_FILE))  # as if killed before finishing
    for root, _, files in os.walk(os.path.join(folder, "checkpoints")):
        for f in files:
            open(os.path.join(root, f), "wb").write(b"\0garbage")
    again = run_trial(
        LOGREG, sgd, max_steps=60, output_dir=folder, checkpoint_every=20, stop_at_target=False
    )
    assert "checkpoint in" in capsys.readouterr().err
    assert again.preemption_count == 0 and again.steps == 60
    assert again.final == first.final


@pytest.mark.slow
def test_two_concurrent_tunes_train_each_trial_once(tmp_path, tune_command):
    out = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            tune_command(out, 3, 1, "--no-progress"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    # "<n> trials (<k> already done)": trained = n - k, summed over both processes.
    trained = 0
    for stdout, _ in outputs:
        n, k = (int(w) for w in stdout.split(": ")[1].replace("(", "").split()[0:3:2])
        trained += n - k
    assert trained == 3
    assert set(score({"shared": str(out)}).scores) == {"shared"}


@pytest.mark.slow
def test_two_concurrent_runs_on_one_folder(tmp_path):
    command = [
        sys.executable,
        "-m",
        "algoperf_lite.cli",
        "run",
        "--workload",
        "mnist1d_mlp",
        "--submission",
        "nadamw",
        "--max-steps",
        "600",
        "--output",
        str(tmp_path),
    ]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    complete = [stdout.startswith("already complete:") for stdout, _ in outputs]
    assert sorted(complete) == [False, True]


def test_a_workload_the_submission_failed_on_can_be_withdrawn_not_one_with_results(copies):
    from algoperf_lite.train.result import start_folder

    folder = copies["nadamw"]
    launched = [io.trial_dir(folder, "mnist1d_mlp", trial=i, study="study_0") for i in (1, 2)]
    records.add_to_manifest(folder, load_submission("nadamw"), launched)
    start_folder(launched[0], {"hparams": {}})  # it raised before its first step
    refused(copies, "unfinished")  # as it stands, the experiment cannot be scored
    assert records.withdraw_workload(folder, "mnist1d_mlp") == 1
    assert not os.path.exists(os.path.dirname(launched[0]))
    report = score(copies)  # the workload is gone, so it counts as never reached
    assert report.workloads == [LOGREG.name]
    with pytest.raises(UserError, match="cannot be withdrawn"):
        records.withdraw_workload(folder, LOGREG.name)

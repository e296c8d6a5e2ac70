"""Which of AlgoPerf's own JAX submission files run here, unchanged.

    python scripts/algoperf_files.py --checkout PATH/algorithmic-efficiency \
        --checkout PATH/submissions_algorithms [--steps 50] [--output results/algoperf_files.md]

Finds every JAX submission file in the given checkouts of AlgoPerf's
repositories (a ``.py`` file that defines ``init_optimizer_state`` and imports
jax; AlgoPerf's own ``algoperf`` package and test files aside), and trains
each for ``--steps`` steps on ``digits_logreg`` and ``mnist1d_mlp``, one file
per child process (a file that crashes or hangs takes only itself down). The
hyperparameters are the first Halton point of the nearest
``tuning_search_space*.json`` at or above the file (our choice); without one,
a file's own declared ``HPARAMS`` (self-tuning files), else AlgoPerf's
self-tuning NAdamW point. The checkout's root is importable, as in AlgoPerf.
A file *runs* when both trials finish (reaching a target or not; a diverged
trial ran too). The table names each
failure's error. The project contains none of these files.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from submissions.nadamw import ALGOPERF_SELF_TUNING

WORKLOADS = ("digits_logreg", "mnist1d_mlp")
# For files whose folder has no search space: AlgoPerf's self-tuning NAdamW point
# under the names AlgoPerf's files read.
FALLBACK_POINT = {
    **ALGOPERF_SELF_TUNING,
    "beta1": 1 - ALGOPERF_SELF_TUNING["one_minus_beta1"],
}
TIMEOUT_S = 1800


def submission_files(checkout: str) -> list[str]:
    found = []
    for path in sorted(glob.glob(os.path.join(checkout, "**", "*.py"), recursive=True)):
        rel = os.path.relpath(path, checkout)
        if rel.startswith("algoperf" + os.sep) or re.search(r"(^|/)tests?(/|_)|_test\.py$", rel):
            continue
        with open(path, errors="replace") as f:
            text = f.read()
        if "def init_optimizer_state" in text and re.search(r"^\s*(import|from) jax", text, re.M):
            found.append(path)
    return found


def search_space_of(path: str, checkout: str) -> str | None:
    folder = os.path.dirname(os.path.abspath(path))
    top = os.path.abspath(checkout)
    while True:
        spaces = sorted(glob.glob(os.path.join(folder, "tuning_search_space*.json")))
        if spaces:
            plain = os.path.join(folder, "tuning_search_space.json")
            return plain if plain in spaces else spaces[0]
        if folder == top or os.path.dirname(folder) == folder:
            return None
        folder = os.path.dirname(folder)


def child(path: str, space: str | None, steps: int, checkout: str) -> dict:
    """Train ``path`` on each workload in this process; one line of JSON out.

    The checkout's root is importable, as when AlgoPerf runs a file from its
    repository (``from algorithms.… import …``); our stand-ins for ``algoperf``
    are installed first, so the checkout's own package (which needs PyTorch)
    is not the one imported."""
    from algoperf_lite import load_submission, run_trial
    from algoperf_lite.compat.algoperf import provide_algoperf_imports
    from algoperf_lite.tuning import search_space
    from workloads import get_workload

    provide_algoperf_imports()
    sys.path.append(os.path.abspath(checkout))
    out = {}
    for name in WORKLOADS:
        try:
            submission = load_submission(path)
            if space is not None:
                point = search_space.points(search_space.load(space), 1, seed=0)[0]
            else:  # a self-tuning file brings its own; an open one gets the fallback
                point = None if submission.hparams else dict(FALLBACK_POINT)
            result = run_trial(get_workload(name), submission, point, seed=0, max_steps=steps)
            out[name] = {"ran": True, "status": result.status}
        except BaseException as e:  # the file's own failure is the finding
            message = " ".join(str(e).replace(path, "FILE").split())[:200]
            out[name] = {"ran": False, "error": f"{type(e).__name__}: {message}"}
    return out


def census(checkouts: list[str], steps: int) -> list[dict]:
    from tqdm import tqdm

    rows = []
    files = [(c, p) for c in checkouts for p in submission_files(c)]
    for checkout, path in tqdm(files, desc="AlgoPerf files", unit="file"):
        space = search_space_of(path, checkout)
        name = os.path.join(
            os.path.basename(os.path.abspath(checkout)), os.path.relpath(path, checkout)
        )
        command = [sys.executable, __file__, "--child", path, "--steps", str(steps)]
        command += ["--root", checkout]
        command += ["--space", space] if space else []
        tic = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if lines:
                trials = json.loads(lines[-1])
            else:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:160]
                trials = {w: {"ran": False, "error": f"process died: {tail}"} for w in WORKLOADS}
        except subprocess.TimeoutExpired:
            trials = {w: {"ran": False, "error": f"timeout after {TIMEOUT_S}s"} for w in WORKLOADS}
        rows.append(
            {
                "file": name,
                "space": os.path.relpath(space, checkout) if space else None,
                "trials": trials,
                "seconds": round(time.perf_counter() - tic, 1),
            }
        )
    return rows


def markdown(rows: list[dict], checkouts: list[str], steps: int, project: str) -> str:
    ran = [r for r in rows if all(t["ran"] for t in r["trials"].values())]
    heads = []
    for c in checkouts:
        commit = subprocess.run(
            ["git", "-C", c, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        heads.append(f"{os.path.basename(os.path.abspath(c))} at {commit or 'unknown commit'}")
    lines = [
        "# AlgoPerf's own JAX submission files, run unchanged",
        "",
        f"Generated by `python scripts/algoperf_files.py` (project at {project}) on "
        f"{', '.join(heads)}: every JAX submission file, {steps} steps on each of "
        f"{' and '.join(WORKLOADS)} (see the script for how files and hyperparameters "
        "are chosen).",
        "",
        f"**{len(ran)} of {len(rows)} files run on both workloads.**",
        "",
        "| file | " + " | ".join(WORKLOADS) + " | seconds |",
        "|---" * (len(WORKLOADS) + 2) + "|",
    ]
    for r in rows:
        cells = [
            t["status"] if t["ran"] else f"fails: {t['error']}".replace("|", "/")
            for t in (r["trials"][w] for w in WORKLOADS)
        ]
        lines.append(f"| {r['file']} | " + " | ".join(cells) + f" | {r['seconds']} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", action="append", default=[], help="repeatable")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "algoperf_files.md"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--space", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.space, args.steps, args.root)), flush=True)
        return 0
    if not args.checkout:
        parser.exit(
            2,
            "algoperf_files.py: error: pass --checkout PATH (a checkout of AlgoPerf's "
            "algorithmic-efficiency or submissions_algorithms repository)\n",
        )
    for c in args.checkout:
        if not os.path.isdir(c):
            parser.exit(2, f"algoperf_files.py: error: no folder {c}; pass a checkout path\n")
    rows = census(args.checkout, args.steps)
    project = subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    text = markdown(rows, args.checkout, args.steps, project or "unknown commit")
    with open(args.output, "w") as f:
        f.write(text)
    with open(os.path.splitext(args.output)[0] + ".json", "w") as f:
        json.dump(rows, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

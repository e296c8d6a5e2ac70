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

"""Carry committed results over to a new way of computing workload hashes,
where the new hash proves the code that made them computes what today's does.

A result or journal line records the ``workload_hash`` of the definition that
made it. When the hash's recipe changes (``core/spec.py:definition_hash``),
every recorded hash must be recomputed. This script finds, for each recorded
hash, the workload (as registered or as declared) and the commit whose sources
give that hash under the recipe named by ``--recipe``, then replaces it with
today's hash, but only where the new recipe gives the same hash for that
commit's sources as for today's (only imports, docstrings or layout differ).
A hash it cannot match that way is left alone, so those results stay stale::

    python scripts/rehash_results.py --recipe raw-bytes           # report only
    python scripts/rehash_results.py --recipe raw-bytes --write   # rewrite in place

``raw-bytes`` is the recipe before 2026-12: the sha256 of the modules' bytes;
``eval-batch-counted`` the one after it, until evaluation chunk sizes left the hash.
"""

from __future__ import annotations

import argparse
import functools
import glob
import hashlib
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf_lite.core import spec  # noqa: E402
from workloads import DECLARED, WORKLOADS  # noqa: E402

FILES = ("results/**/result.json", "results/**/*.jsonl")
HASH = re.compile(r'"workload_hash": "([0-9a-f]{16})"')


def raw_bytes_hash(workload, read) -> str:
    """The recipe before 2026-12: module bytes as they are, then the fields."""
    digest = hashlib.sha256()
    makers = (workload.make_model, workload.load_splits)
    makers += tuple(f.func for f in makers if isinstance(f, functools.partial))
    # A partial's own module (functools) was hashed too, as the running Python has it.
    modules = {sys.modules.get(getattr(f, "__module__", None)) for f in makers}
    for path in sorted(m.__file__ for m in modules if getattr(m, "__file__", None)):
        if not path.startswith(ROOT):
            with open(path, encoding="utf-8") as f:
                digest.update(f.read().encode())
            continue
        digest.update(read(path).encode())
    fields = (
        workload.name, workload.batch_size, workload.step_hint, workload.eval_every,
        workload.metric, workload.validation_target, workload.test_target,
    )  # fmt: skip
    digest.update(repr(fields).encode())
    if isinstance(workload.make_model, functools.partial):
        digest.update(repr(sorted(workload.make_model.keywords.items())).encode())
    return digest.hexdigest()[:16]


class _EvalBatchCounted(spec._CodeOnly):
    UNHASHED_KEYWORDS = ()


def eval_batch_hash(workload, read) -> str:
    """The recipe of early 2026-12: as today's, but ``eval_batch_size=`` counted."""
    return spec.definition_hash(workload, read, code_only=_EvalBatchCounted)


RECIPES = {"raw-bytes": raw_bytes_hash, "eval-batch-counted": eval_batch_hash}


def reader_at(commit: str):
    """``read(path)``: a file's text as it was at ``commit``."""

    @functools.cache
    def read(path: str) -> str:
        relative = os.path.relpath(path, ROOT)
        shown = subprocess.run(
            ["git", "show", f"{commit}:{relative}"], cwd=ROOT, capture_output=True, text=True
        )
        return shown.stdout if shown.returncode == 0 else ""

    return read


def carried_hashes(recipe) -> dict[str, str]:
    """old hash -> today's, for every (workload, commit) whose code computes as today's."""
    commits = subprocess.run(
        ["git", "rev-list", "HEAD", "--", "workloads"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    mapping = {}
    for commit in commits:
        read = reader_at(commit)
        for workload in [*WORKLOADS.values(), *DECLARED.values()]:
            if not all(read(p) for p in spec.source_files(workload)):
                continue
            today = spec.definition_hash(workload)
            if spec.definition_hash(workload, read) == today:
                mapping.setdefault(recipe(workload, read), today)
    return mapping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), required=True)
    parser.add_argument("--write", action="store_true", help="rewrite the files in place")
    args = parser.parse_args()
    mapping = carried_hashes(RECIPES[args.recipe])
    carried, stale = 0, set()
    for pattern in FILES:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            found = HASH.findall(text)
            stale |= {h for h in found if h not in mapping and h not in mapping.values()}
            new = HASH.sub(lambda m: f'"workload_hash": "{mapping.get(m[1], m[1])}"', text)
            if new != text:
                carried += 1
                if args.write:
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(new)
    verb = "rewrote" if args.write else "would rewrite"
    print(f"{verb} {carried} files; {len(stale)} recorded hashes match no current definition")
    for h in sorted(stale):
        print(f"  left stale: {h}")


if __name__ == "__main__":
    main()

"""Checks what ruff and import-linter do not: no import cycle between modules,
no module over 400 lines and no function over 80 (``make lint`` runs it).

    python scripts/check_layout.py

Known oversize pieces are listed in ``SHRINKING`` with their size today; the
check fails if one grows or a new one appears, and says when one can leave the list.
"""

import ast
import pathlib
import sys

import grimp

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("algoperf_lite", "workloads", "submissions")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
# Still to split (path or path:function -> lines today); may only shrink.
SHRINKING = {
    "algoperf_lite/tuning/study.py:tune": 81,
    "algoperf_lite/tuning/targets.py:set_target": 131,
}


def sizes():
    """(name, lines, limit) for every module and function of the packages and scripts."""
    for path in sorted(p for d in (*PACKAGES, "scripts") for p in (ROOT / d).rglob("*.py")):
        name = str(path.relative_to(ROOT))
        text = path.read_text()
        yield name, len(text.splitlines()), MAX_MODULE_LINES
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                yield f"{name}:{node.name}", lines, MAX_FUNCTION_LINES


def size_problems():
    problems, seen, longest = [], set(), ("", 0)
    for name, lines, limit in sizes():
        if ":" in name and lines > longest[1]:
            longest = (name, lines)
        if lines <= limit:
            continue
        seen.add(name)
        allowed = SHRINKING.get(name)
        if allowed is None:
            problems.append(f"{name} has {lines} lines (limit {limit}); split it")
        elif lines > allowed:
            problems.append(f"{name} grew to {lines} lines (listed at {allowed}); split it")
    for name in sorted(set(SHRINKING) - seen):
        problems.append(f"{name} is within its limit now; remove it from SHRINKING")
    return problems, longest


def cycles():
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*PACKAGES)
    found = set()
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                found.add(" -> ".join(graph.find_shortest_chain(imported, module) + (imported,)))
    return sorted(found)


def main() -> int:
    problems, longest = size_problems()
    problems += [f"import cycle: {c}" for c in cycles()]
    for problem in problems:
        print(problem)
    print(f"layout: {len(problems)} problems; longest function {longest[0]} ({longest[1]} lines)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

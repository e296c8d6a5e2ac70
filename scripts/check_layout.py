"""Checks what ruff and import-linter do not: no import cycle between modules,
no module over 400 lines and no function over 80 (``make lint`` runs it).

    python scripts/check_layout.py
"""

import ast
import pathlib
import sys

import grimp

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("algoperf_lite", "workloads", "submissions")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


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
    problems, longest = [], ("", 0)
    for name, lines, limit in sizes():
        if ":" in name and lines > longest[1]:
            longest = (name, lines)
        if lines > limit:
            problems.append(f"{name} has {lines} lines (limit {limit}); split it")
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

"""No class or function of the package grows past what a reader can hold at once (issue 23: the
Orchestrator had 311 lines and 29 methods, cluster up's Builder 332 lines). Declaration tables, functions
that only return a literal (`options._options`), are data, not logic, and are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "opp_ci"
LARGEST_CLASS = 250
LARGEST_FUNCTION = 60


def lines(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1


def is_table(node: ast.FunctionDef) -> bool:
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return (len(body) <= 2 and isinstance(body[-1], ast.Return)
            and isinstance(body[-1].value, (ast.Tuple, ast.List, ast.Dict)))


def definitions() -> list[tuple[str, ast.AST]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}", node))
    return found


def test_no_class_is_larger_than_a_reader_can_hold():
    large = [(name, lines(n)) for name, n in definitions() if isinstance(n, ast.ClassDef) and lines(n) > LARGEST_CLASS]
    assert not large, f"classes over {LARGEST_CLASS} lines: {large}"


def test_no_function_is_larger_than_a_reader_can_hold():
    large = [(name, lines(n)) for name, n in definitions()
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and lines(n) > LARGEST_FUNCTION
             and not is_table(n)]
    assert not large, f"functions over {LARGEST_FUNCTION} lines: {large}"


def test_a_table_is_told_from_logic():
    table = ast.parse("def t():\n    x = 1\n    return (x, 2)\n").body[0]
    logic = ast.parse("def f():\n    x = 1\n    y = 2\n    return (x, y)\n").body[0]
    assert is_table(table) and not is_table(logic)

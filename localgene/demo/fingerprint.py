"""The fingerprint of a demo data generator's code, recorded in each data set's manifest.

A data set is redone when the code that wrote it changed. What counts is the code: every
top-level statement of the generator's module and of the ``localgene.demo`` modules it imports
(recursively), as syntax trees without docstrings and without import statements, in sorted
order. So an edit that changes what is computed redoes the data, while editing a docstring or a
comment, renaming an import or moving a function between the demo modules does not.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

_PACKAGE = "localgene.demo"


def _strip_docstrings(node: ast.AST) -> None:
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = child.body
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                child.body = body[1:] or [ast.Pass()]


def _module_path(name: str) -> Path:
    return Path(__file__).with_name(name.rpartition(".")[2] + ".py")


def _closure(name: str, seen: set[str]) -> None:
    if name in seen:
        return
    seen.add(name)
    tree = ast.parse(_module_path(name).read_text())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(_PACKAGE + "."):
                _closure(node.module, seen)
            elif node.module == _PACKAGE:
                for alias in node.names:
                    _closure(f"{_PACKAGE}.{alias.name}", seen)


def code_fingerprint(module: str) -> str:
    """16 hex digits identifying the code of generator module ``module`` (a dotted name under
    ``localgene.demo``) and of the demo modules it imports."""
    names: set[str] = set()
    _closure(module, names)
    parts: list[str] = []
    for name in names:
        tree = ast.parse(_module_path(name).read_text())
        _strip_docstrings(tree)
        parts.extend(ast.dump(node) for node in tree.body if not isinstance(node, (ast.Import, ast.ImportFrom)))
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]

"""The package's layers (docs/architecture.md): imports go one way only, entry -> service ->
engines -> domain. Checked on every import statement of the package, the ones inside functions
included (a lazy import is a dependency too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "localgene"

#: (layer, rank, module prefixes). A module belongs to the layer of its longest matching prefix.
LAYERS: list[tuple[str, int, tuple[str, ...]]] = [
    ("entry", 0, ("localgene.cli", "localgene.api", "localgene.__main__")),
    ("service", 1, ("localgene.jobs.service", "localgene.jobs.samplesheet", "localgene.jobs.interface",
                    "localgene.client")),
    ("engine", 2, ("localgene.run", "localgene.store", "localgene.storage", "localgene.cnvkit",
                   "localgene.pipelines", "localgene.report", "localgene.demo",
                   "localgene.jobs.references", "localgene.jobs.checks", "localgene.jobs.config_schema",
                   "localgene.jobs.pipeline_inputs")),
    ("domain", 3, ("localgene", "localgene.jobs", "localgene.errors", "localgene.settings",
                   "localgene.fileio", "localgene.__version__")),
]


def layer_of(module: str) -> tuple[str, int]:
    best: tuple[int, str, int] | None = None
    for name, rank, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), name, rank)
    assert best is not None, module
    return best[1], best[2]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, target module) of every ``localgene`` import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "localgene"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "localgene":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) or sub == "localgene.__version__" else node.module))
    return found


def test_the_layer_table_knows_every_module():
    for path in PACKAGE.rglob("*.py"):
        layer_of(_module_name(path))  # asserts


def test_imports_go_from_entry_to_service_to_engines_to_domain():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        # the package root is the public surface: it may export (lazily) from every layer, and
        # what others import from it (``__version__``) is as low as the domain
        layer, rank = ("public surface", 0) if module == "localgene" else layer_of(module)
        for line, target in imports_of(path):
            target_layer, target_rank = layer_of(target)
            if target_rank < rank:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {module} ({layer}) imports "
                             f"{target} ({target_layer})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("module", "layer"), [
    ("localgene.cli.jobs", "entry"), ("localgene.jobs.service", "service"), ("localgene.store.queue", "engine"),
    ("localgene.jobs.status", "domain"), ("localgene.errors", "domain"),
])
def test_layer_of(module, layer):
    assert layer_of(module)[0] == layer


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from localgene.api import app\n")
    assert imports_of(bad) == [(2, "localgene.api.app")]
    assert layer_of("localgene.api.app")[1] < layer_of("localgene.store.records")[1]


#: "no module over ~400 lines" (one module, one job): the bound, with a little slack
MAX_MODULE_LINES = 420


def test_no_module_is_over_about_400_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by concern): {long}"

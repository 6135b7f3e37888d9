"""The package's import graph runs one way: from the CLI down to the foundations.

``LAYERS`` is the allowed order, lowest first (``docs/architecture.md`` draws it). A module may
import modules of its own package and of packages in lower layers only; no module outside a
``cli`` module imports a ``cli`` module; and no two modules import each other through any chain.
Every import counts: module level, inside functions, and under ``TYPE_CHECKING``. Model kinds and
feature blocks found by name at run time (``gogooku.models.registry``, plugins) are not imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gogooku

ROOT = Path(gogooku.__file__).resolve().parent
LAYERS: list[set[str]] = [
    {"__init__", "errors", "settings", "logs", "httpserver"},
    {"io", "parallel"},
    {"config"},
    {"target", "calendar", "market"},
    {"runs"},
    {"tracking"},
    {"jquants"},
    {"synth"},
    {"store"},
    {"importers", "features"},
    {"dataset"},
    {"evaluate"},
    {"export"},
    {"models"},
    {"train"},
    {"bundle"},
    {"kinds"},
    {"hpo"},
    {"research"},
    {"serve"},
    {"demo"},
    {"cli"},
    {"__main__"},
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found |= {f"{base}.{a.name}" for a in node.names} | {base}
    return {name for name in found if name == "gogooku" or name.startswith("gogooku.")}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for module, path in files.items():
        targets = set()
        for name in _imports(path, module):
            while name not in files and "." in name:
                name = name.rpartition(".")[0]
            if name in files and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_cli(module: str) -> bool:
    return module in ("gogooku.cli", "gogooku.__main__") or module.endswith(".cli")


GRAPH = _graph()


def test_every_area_has_a_layer():
    assert {_area(m) for m in GRAPH} - set(LAYER_OF) == set()


def test_no_import_runs_up_or_across():
    wrong = [
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if _area(t) != _area(m) and LAYER_OF[_area(t)] >= LAYER_OF[_area(m)]
    ]
    assert wrong == []


def test_only_cli_modules_import_cli_modules():
    wrong = [f"{m} -> {t}" for m, ts in GRAPH.items() for t in ts if _is_cli(t) and not _is_cli(m)]
    assert wrong == []


def test_no_import_cycle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert cycles == []


@pytest.mark.parametrize(
    ("module", "target", "expected"),
    [
        ("gogooku.models.gbdt", "gogooku.train.loop", True),
        ("gogooku.features.returns", "gogooku.dataset.build", True),
        ("gogooku.dataset.build", "gogooku.features.base", False),
        ("gogooku.train.run", "gogooku.models.registry", False),
    ],
)
def test_the_layer_rule_itself(module, target, expected):
    assert (LAYER_OF[_area(target)] >= LAYER_OF[_area(module)]) is expected

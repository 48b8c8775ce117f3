"""Imports point one way: no library module imports an entry point, and the package's module-level imports
form no cycle (read from the source with ``ast``, nothing imported)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xsell"
ENTRY_POINTS = {"xsell.train", "xsell.evaluate", "xsell.retrain", "xsell.rank", "xsell.export.cli"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def executed_at_import(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run when the module is imported: top level, inside ``if``/``try`` blocks (but not
    ``if TYPE_CHECKING:``), never inside functions."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            out += executed_at_import(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            out += executed_at_import(node.body + node.orelse + node.finalbody
                                      + [s for h in node.handlers for s in h.body])
    return out


def imported(name: str, path: Path, *, module_level: bool) -> set[str]:
    """The xsell modules ``name`` imports: at module level only, or anywhere (functions too)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = executed_at_import(tree.body) if module_level else ast.walk(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .a import b
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # ``from pkg import module`` imports the submodule
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def test_the_module_reader_sees_the_package():
    assert {"xsell.train", "xsell.runs", "xsell.training.builders", "xsell.export.cli"} <= set(MODULES)
    assert "xsell.training.builders" in imported("xsell.train", MODULES["xsell.train"], module_level=True)


def test_no_library_module_imports_an_entry_point():
    offenders = {name: sorted(imported(name, path, module_level=False) & ENTRY_POINTS)
                 for name, path in MODULES.items() if name not in ENTRY_POINTS and name != "xsell.export.__main__"}
    assert {name: found for name, found in offenders.items() if found} == {}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``None`` (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child):], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph.get(child, ()))))
    return None


def test_find_cycle_finds_a_known_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_module_level_imports_have_no_cycle():
    graph = {name: imported(name, path, module_level=True) for name, path in MODULES.items()}
    assert find_cycle(graph) is None


def reachable(graph: dict[str, set[str]], roots: set[str]) -> set[str]:
    """``roots`` and every module they import, directly or through others."""
    seen, todo = set(roots), list(roots)
    while todo:
        for child in graph.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def test_evaluation_rules_and_export_read_prepared_data_not_the_data_module():
    """They take a ``PreparedData``: importing them or calling them (imports inside functions too) never loads the
    Lightning data module, except in the workflows that rebuild a run through ``xsell.training``."""
    loaded = {name: imported(name, path, module_level=True) for name, path in MODULES.items()}
    layers = [name for name in MODULES if name.split(".")[1:2] in (["evaluation"], ["crosssell"], ["export"])]
    workflows = {"xsell.evaluation.run", "xsell.export.run", "xsell.export.cli", "xsell.export.__main__"}
    assert "xsell.evaluation.trigger" in layers and workflows <= set(layers)

    def reaches_datamodule(name: str) -> bool:
        return "xsell.data.datamodule" in reachable(loaded, imported(name, MODULES[name], module_level=False))

    assert [name for name in layers if name not in workflows and reaches_datamodule(name)] == []
    assert all(reaches_datamodule(name) for name in ("xsell.evaluation.run", "xsell.export.run"))  # it can fail

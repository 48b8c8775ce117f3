"""``pip install -e ".[dev]" && python -m pytest`` works on a fresh machine: every third-party module that the
package or its tests import is declared in pyproject.toml's ``dependencies`` or the ``dev`` extra, and every
module a config names as ``_target_`` (which the tests instantiate) comes with a declared distribution.

A developer's machine may have more installed than pyproject declares; this test reads what is declared, so
an undeclared import fails here rather than on a user's fresh virtual environment. Import names are mapped
to distributions with ``importlib.metadata.packages_distributions()``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from omegaconf import OmegaConf

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+ (tomllib)")

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"xsell", "tests"}


def distribution_name(requirement: str) -> str:
    """``'torch>=2.4,<2.14'`` -> ``'torch'``; names compared in PEP 503 normalised form."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {distribution_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]}


def imported_modules(folder: Path) -> Iterator[tuple[str, Path]]:
    """``(top-level module, file)`` for every absolute import in ``folder``'s Python files."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            yield from ((name.partition(".")[0], path) for name in names)


def config_targets() -> Iterator[tuple[str, Path]]:
    """``(top-level module, file)`` of every ``_target_`` in ``configs/``."""
    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("_target_"), str):
                yield node["_target_"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for path in sorted((ROOT / "xsell" / "configs").rglob("*.yaml")):
        for target in walk(OmegaConf.to_container(OmegaConf.load(path), resolve=False)):
            yield target.partition(".")[0], path


def requirements_of(distributions: set[str]) -> set[str]:
    """The distributions ``distributions`` require (one level), as installed here."""
    required = set()
    for name in distributions:
        try:
            required |= {distribution_name(r) for r in metadata.requires(name) or [] if "extra ==" not in r}
        except metadata.PackageNotFoundError:
            continue
    return required


def undeclared(modules: Iterator[tuple[str, Path]], allowed: set[str]) -> list[str]:
    """One line per module that no distribution in ``allowed`` provides, naming the file."""
    providers = metadata.packages_distributions()
    problems = []
    for module, path in modules:
        if module in sys.stdlib_module_names or module in FIRST_PARTY:
            continue
        dists = {distribution_name(d) for d in providers.get(module, [])}
        where = path.relative_to(ROOT)
        if not dists:
            problems.append(f"{where}: {module} is provided by no installed distribution "
                            "(pip install -e '.[dev]', or declare it in pyproject.toml)")
        elif not dists & allowed:
            problems.append(f"{where}: {module} comes from {sorted(dists)}, not declared in pyproject.toml")
    return sorted(set(problems))


def test_package_and_test_imports_are_declared():
    declared = declared_distributions()
    modules = [*imported_modules(ROOT / "xsell"), *imported_modules(ROOT / "tests")]
    assert undeclared(iter(modules), declared) == []


def test_config_targets_come_with_declared_distributions():
    """A ``_target_`` may name a library that a declared distribution brings (the Optuna sampler comes with
    the Optuna sweeper plugin)."""
    declared = declared_distributions()
    assert undeclared(config_targets(), declared | requirements_of(declared)) == []


def test_undeclared_import_is_reported(tmp_path, monkeypatch):
    """The check itself can fail: a file importing a module of an installed but undeclared distribution."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "uses_yaml.py").write_text("import yaml\nimport os\nfrom xsell import data\n")
    problems = undeclared(imported_modules(tmp_path), {"torch"})
    assert problems == ["uses_yaml.py: yaml comes from ['pyyaml'], not declared in pyproject.toml"]

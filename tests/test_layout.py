"""The package's shape: no import cycles between its modules (imports inside functions
included: they only postpone a cycle), and nothing run at import time that changes the
process (environment variables, the root logger)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "assistant"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """The assistant modules a module names in its imports, anywhere in it.

    Only the modules named: ``from assistant.embeddings.export import X`` runs the package
    ``assistant.embeddings`` first, but Python has it ready by then, so that is no cycle.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules and name != _module_name(path)}


def test_no_import_cycles() -> None:
    graph = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        for target in sorted(graph.get(name, ())):
            if target in path:
                cycles.append(path[path.index(target) :] + [target])
            elif len(path) < 30:
                visit(target, [*path, target])

    for name in sorted(graph):
        visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_importing_every_module_changes_no_environment_variable_nor_the_root_logger() -> None:
    check = """
import importlib, json, logging, os, pkgutil
import assistant
before_env, before_level = dict(os.environ), logging.getLogger().level
for module in pkgutil.walk_packages(assistant.__path__, "assistant."):
    importlib.import_module(module.name)
names = set(os.environ) | set(before_env)
changed = sorted(k for k in names if os.environ.get(k) != before_env.get(k))
print(json.dumps({"env": changed, "root_level_changed": logging.getLogger().level != before_level}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == '{"env": [], "root_level_changed": false}'

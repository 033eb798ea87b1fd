"""The wheel a user installs (non-editable, run from another folder) is complete."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

# Run from outside the repository, with the installed wheel first on the path: every module
# imports, and the prompt templates are read from inside the installed package.
_CHECK = """
import importlib, json, pkgutil, sys
sys.path.insert(0, sys.argv[1])
import assistant
from assistant import prompts
modules = [m.name for m in pkgutil.walk_packages(assistant.__path__, "assistant.")]
for name in modules:
    importlib.import_module(name)
template = prompts.load("answer", required={"context", "question"})
print(json.dumps({
    "package": assistant.__file__,
    "templates": str(prompts.templates_dir()),
    "modules": modules,
    "variables": sorted(template.input_variables),
}))
"""


@pytest.mark.slow
def test_wheel_installed_elsewhere_has_every_module_and_the_prompts(tmp_path: Path) -> None:
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)]
    subprocess.run([*pip, *build], check=True, capture_output=True)
    (wheel,) = wheels.glob("assistant-*.whl")
    install = ["install", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run([*pip, *install], check=True, capture_output=True)

    result = subprocess.run(
        [sys.executable, "-c", _CHECK, str(target)],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])

    assert Path(found["package"]).is_relative_to(target)
    assert Path(found["templates"]).is_relative_to(target / "assistant")
    assert found["variables"] == ["context", "question"]
    # Every module of the source tree is in the wheel.
    in_source = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "assistant").rglob("*.py")
    }
    assert in_source - {"assistant"} <= set(found["modules"])

"""Prompt templates kept as files in ``prompts/``, checked when they are loaded.

In the repository they live in ``prompts/`` at the top; a wheel carries the same files as
the data-only package ``assistant.prompt_templates`` (see pyproject.toml).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from langchain_core.prompts import PromptTemplate

from assistant.errors import ConfigError


def templates_dir() -> Path:
    """Where the templates are: inside the installed package (a wheel), or else the
    repository's ``prompts/`` (a source checkout, or an editable install of one)."""
    spec = importlib.util.find_spec("assistant.prompt_templates")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "prompts"


def load(name: str, *, required: set[str], directory: Path | None = None) -> PromptTemplate:
    """Load ``prompts/<name>.md`` and check it uses exactly the ``required`` variables.

    Raises:
        ConfigError: the file is missing, or a variable is missing or unknown.
    """
    path = (directory or templates_dir()) / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"Prompt template {path} is missing.") from exc
    template = PromptTemplate.from_template(text)
    found = set(template.input_variables)
    if found != required:
        missing, unknown = sorted(required - found), sorted(found - required)
        raise ConfigError(
            f"Prompt template {path} must use {sorted(required)}: "
            f"missing {missing}, unknown {unknown}."
        )
    return template

"""Prompt templates kept as files in ``prompts/``, checked when they are loaded."""

from __future__ import annotations

from pathlib import Path

from langchain_core.prompts import PromptTemplate

from assistant.errors import ConfigError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


def load(name: str, *, required: set[str], directory: Path = PROMPTS_DIR) -> PromptTemplate:
    """Load ``prompts/<name>.md`` and check it uses exactly the ``required`` variables.

    Raises:
        ConfigError: the file is missing, or a variable is missing or unknown.
    """
    path = directory / f"{name}.md"
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

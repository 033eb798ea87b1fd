import json
import os
import re
import subprocess
import sys

import pytest
from pydantic import ValidationError

from assistant.config import Settings

from .conftest import ROOT


def test_readme_settings_table_is_current():
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "settings_table.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", readme, re.DOTALL
    )
    assert block, "README lost its settings table markers"
    assert block.group(1).strip() == generated, "run scripts/settings_table.py into README.md"


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ASSISTANT_TOP_K", "7")
    monkeypatch.setenv("ASSISTANT_PORT", "7999")
    settings = Settings()
    assert (settings.top_k, settings.port) == (7, 7999)


@pytest.mark.parametrize(
    ("name", "value"), [("ASSISTANT_TOP_K", "0"), ("ASSISTANT_EMBEDDING_BACKEND", "gpu")]
)
def test_invalid_settings_are_rejected(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_no_assistant_setting_from_the_shell_reaches_the_tests():
    # tests/conftest.py drops every ASSISTANT_* variable (any case) when pytest starts, so a
    # developer's ASSISTANT_TOP_K or ASSISTANT_INDEX_DIR cannot change what the tests see,
    # here or in the subprocesses they start.
    assert [name for name in os.environ if name.upper().startswith("ASSISTANT_")] == []
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from assistant.config import Settings; print(Settings().model_dump_json())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(child.stdout) == json.loads(Settings.model_construct().model_dump_json())


def test_the_near_miss_threshold_is_a_setting(monkeypatch, tmp_path, embeddings):
    from assistant.assemble import open_assistant

    from .conftest import CORPUS

    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path))
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(CORPUS))

    def ask(question: str):
        assistant = open_assistant(
            Settings(), embeddings=embeddings, build_if_missing=True, warm=False
        )
        return assistant.ask(question)

    question = "How old is Khaled Hammadi?"  # a near miss: the article never says
    assert ask(question).refused
    monkeypatch.setenv("ASSISTANT_NEAR_MISS_THRESHOLD", "1.01")  # never refuse near misses
    assert not ask(question).refused

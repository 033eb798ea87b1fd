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

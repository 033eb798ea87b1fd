"""Shared fixtures: the real packaged model and real Chroma indexes in temporary folders."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest


def _clear_assistant_settings() -> None:
    """Drop every ``ASSISTANT_*`` variable, so a developer's settings cannot change results.

    Done to ``os.environ`` itself, as soon as pytest loads this file (before any test module
    is imported): subprocesses the tests start inherit the cleaned environment, and so do
    ``CliRunner`` runs. Names are matched ignoring case, as pydantic-settings reads them.
    """
    for name in [name for name in os.environ if name.upper().startswith("ASSISTANT_")]:
        del os.environ[name]


_clear_assistant_settings()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
ARTICLE = CORPUS / "iran-militias-iraq-plan-t.txt"
DATA = Path(__file__).resolve().parent / "data"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    # Lets fixtures see whether the test failed (the browser fixture saves a screenshot).
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def embeddings():
    """The packaged MiniLM on ONNX Runtime, loaded once for the whole session."""
    from assistant.embeddings import SentenceEmbeddings

    return SentenceEmbeddings().load()


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory: pytest.TempPathFactory):
    from assistant.config import Settings

    def make(**overrides) -> Settings:
        values = {"index_dir": tmp_path_factory.mktemp("index"), "corpus_dir": CORPUS}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def article_assistant(settings_factory, embeddings):
    """The assistant over the bundled article, indexed once into a temporary folder."""
    from assistant.assemble import open_assistant

    settings = settings_factory()
    return open_assistant(settings, embeddings=embeddings, build_if_missing=True)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    """A real `chroma run` server on loopback, for one test module."""
    from .support import start_chroma

    url, server, log = start_chroma(tmp_path_factory.mktemp("chroma-server"))
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()  # type: ignore[attr-defined]

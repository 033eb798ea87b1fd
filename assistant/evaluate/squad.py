"""SQuAD's paragraphs as an index of their own, beside (never in) the user's index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.documents import Document

from assistant.assemble import Assistant, make_embeddings, open_assistant, store_location
from assistant.config import Settings
from assistant.embeddings import SentenceEmbeddings
from assistant.evaluate.inputs import EvalInput
from assistant.index import IndexReport, index_documents


def squad_location(settings: Settings, data: EvalInput) -> Settings:
    """Settings pointing at the SQuAD file's own collection, beside (never in) the user's index.

    ``<index_dir>/eval/squad-<digest of the paragraphs>/``: an embedded store of its own, so
    neither the user's collection, records nor manifest are touched, and a re-run (or the same
    paragraphs in another file) finds it already built.
    """
    if data.digest is None:
        raise ValueError("not a SQuAD input")
    folder = settings.index_dir / "eval" / f"squad-{data.digest}"
    return settings.with_overrides(index_dir=folder, collection="squad", chroma_url=None)


def open_squad_assistant(
    settings: Settings,
    data: EvalInput,
    *,
    embeddings: SentenceEmbeddings | None = None,
    progress: Callable[[Sequence[Document]], Any] | None = None,
) -> tuple[Assistant, IndexReport]:
    """Index the SQuAD paragraphs (incrementally: unchanged ones are skipped) and open them."""
    squad_settings = squad_location(settings, data)
    embeddings = embeddings or make_embeddings(settings)
    location = store_location(squad_settings)
    passages = data.passages or []
    report = index_documents(
        progress(passages) if progress else passages, location=location, embeddings=embeddings
    )
    return open_assistant(squad_settings, embeddings=embeddings), report

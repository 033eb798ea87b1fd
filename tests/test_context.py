"""What the index embeds and counts the terms of for a passage: its context, then its text.

The API entry's qualified name comes from a real Sphinx page (a cut of Python 3.11's
library/stdtypes.html, tests/data/sphinx_dict_entries.html); the indexing tests use the real
model and a real Chroma.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

import assistant.ingest.context as context_module
from assistant.index import index_paths
from assistant.index.fingerprints import passage_signature
from assistant.index.identity import assign_ids
from assistant.ingest.context import indexed_text, passage_context
from assistant.ingest.html import parse_html, read_html
from assistant.ingest.passages import SourceFile, load_passages
from assistant.keywords import KeywordIndex
from assistant.store import StoreLocation, all_passages, open_store, vectors_by_id
from assistant.text import tokenize

PAGE = Path(__file__).parent / "data" / "sphinx_dict_entries.html"
TITLE = "Built-in Types — Python 3.11.2 documentation"
SECTION = "Mapping Types — dict"


def _passages() -> list[Document]:
    return load_passages(SourceFile(PAGE, "library/stdtypes.html"))


def _starting(passages: list[Document], start: str) -> Document:
    found = [p for p in passages if p.page_content.startswith(start)]
    assert len(found) == 1, [p.page_content[:40] for p in passages]
    return found[0]


def test_an_api_entry_is_named_in_full_from_its_dt_id():
    passages = _passages()
    pop = _starting(passages, "pop(key[, default]) — If key is in the dictionary")
    assert pop.metadata["entry"] == "dict.pop"
    assert "dict" not in tokenize(pop.page_content)  # the page never says it: the id does
    # Every paragraph of an entry is its entry's, not only the signature's.
    popitem = [p for p in passages if p.metadata.get("entry") == "dict.popitem"]
    assert [p.page_content.split()[0] for p in popitem] == ["popitem()", "popitem()", "Changed"]
    # A class with three signatures, one id: its description is the class's.
    assert _starting(passages, "class dict(**kwargs)").metadata["entry"] == "dict"
    # An entry without an id belongs to the entry around it.
    assert _starting(passages, "reversed(d) — Return").metadata["entry"] == "dict"
    # Outside any entry: no entry.
    assert "entry" not in _starting(passages, "A mapping object maps").metadata
    assert all(p.metadata["title"] == TITLE for p in passages)
    assert all(p.metadata["section"] == SECTION for p in passages)


def test_the_page_text_is_unchanged_by_the_entries():
    page = read_html(parse_html(PAGE.read_text(encoding="utf-8")))
    assert set(page.entries.values()) == {"dict", "dict.pop", "dict.popitem"}
    for offset in page.entries:
        assert offset == 0 or page.text[offset - 2 : offset] == "\n\n"  # paragraph starts
    assert "pop(key[, default]) — If key is in the dictionary" in page.text
    assert "dict.pop" not in page.text


def test_an_anchor_is_not_a_name():
    markup = (
        "<html><body><main><dl class='glossary'>"
        "<dt id='term-iterator'>iterator</dt><dd><p>An object representing a stream of "
        "data.</p></dd>"
        "<dt id='index-3'>PYTHONPATH</dt><dd><p>Augment the default search path for module "
        "files.</p></dd></dl></main></body></html>"
    )
    page = read_html(parse_html(markup))
    assert "An object representing a stream of data." in page.text
    assert page.entries == {}


def test_the_context_is_title_section_and_entry_one_a_line():
    meta = {"title": TITLE, "section": SECTION, "entry": "dict.pop", "paragraph": 3}
    assert passage_context(meta) == f"{TITLE}\n{SECTION}\ndict.pop"
    assert indexed_text("pop(key)", meta) == f"{TITLE}\n{SECTION}\ndict.pop\n\npop(key)"
    # What a document lacks is left out, a repeat is said once, spaces are collapsed.
    assert passage_context({"title": "Super Bowl 50", "section": ""}) == "Super Bowl 50"
    assert passage_context({"title": "Notes", "section": "Notes"}) == "Notes"
    assert passage_context({"title": " A \n title "}) == "A title"
    assert indexed_text("Just text.", {}) == "Just text."


def test_the_signature_and_the_ids_follow_the_recipe(embeddings, monkeypatch):
    passage = _starting(_passages(), "pop(key[, default])")
    before = passage_signature(embeddings)
    [first] = assign_ids([Document(passage.page_content, metadata=dict(passage.metadata))], {})
    assert before == passage_signature(embeddings)  # a digest, the same every time

    monkeypatch.setattr(context_module, "indexed_text", lambda text, metadata: text)
    assert passage_signature(embeddings) != before
    [second] = assign_ids([Document(passage.page_content, metadata=dict(passage.metadata))], {})
    assert second.page_content == first.page_content and second.id != first.id


def _cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_indexing_embeds_the_context_and_keeps_the_text_verbatim(embeddings, tmp_path):
    folder = tmp_path / "docs" / "library"
    folder.mkdir(parents=True)
    (folder / "stdtypes.html").write_bytes(PAGE.read_bytes())
    location = StoreLocation(tmp_path / "index", "test")
    index_paths([tmp_path / "docs"], location=location, embeddings=embeddings, progress=False)
    store = open_store(location, embeddings)
    stored = {p.page_content: p for p in all_passages(store)}
    read = _passages()
    assert sorted(stored) == sorted(p.page_content for p in read)  # the page's own words

    pop = stored[_starting(read, "pop(key[, default])").page_content]
    assert pop.metadata["entry"] == "dict.pop"
    [vector] = vectors_by_id(store, [pop.id or ""]).values()
    with_context = embeddings.embed_documents([indexed_text(pop.page_content, pop.metadata)])
    alone = embeddings.embed_documents([pop.page_content])
    assert _cosine(vector, with_context[0]) == pytest.approx(1.0, abs=1e-4)
    assert _cosine(vector, alone[0]) < 0.99

    # BM25 counts the context's terms too: "dict" and "pop" are in no passage's text
    # together, and in the context of dict.pop's.
    keywords = KeywordIndex(store, location)
    assert not any({"dict", "pop"} <= set(tokenize(t)) for t in stored)
    [(best, _), *_] = keywords.search("dict pop", 3)
    assert keywords.loaded.ids[best] == pop.id

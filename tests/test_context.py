"""A passage's context: the API entry's qualified name, from a real Sphinx page (a cut of
Python 3.11's library/stdtypes.html, tests/data/sphinx_dict_entries.html)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.ingest.html import parse_html, read_html
from assistant.ingest.passages import SourceFile, load_passages
from assistant.text import tokenize

PAGE = Path(__file__).parent / "data" / "sphinx_dict_entries.html"
TITLE = "Built-in Types — Python 3.11.2 documentation"
SECTION = "Mapping Types — dict"


def _passages() -> list[Any]:
    return load_passages(SourceFile(PAGE, "library/stdtypes.html"))


def _starting(passages: list[Any], start: str) -> Any:
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

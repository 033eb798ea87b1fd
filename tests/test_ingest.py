from pathlib import Path

import pytest

from assistant.errors import IngestError
from assistant.ingest.loaders import SUPPORTED_SUFFIXES, load_document
from assistant.ingest.passages import (
    SourceFile,
    find_files,
    load_passages,
    split_passages,
    walk,
)

from .conftest import ARTICLE, CORPUS

SUPPORTED = ", ".join(SUPPORTED_SUFFIXES)


def read_text(path: Path) -> str:
    return load_document(path).pages[0].text


@pytest.fixture(scope="module")
def article_passages():
    return load_passages(SourceFile(ARTICLE, "iran-militias-iraq-plan-t.txt"))


def test_title_and_headings_are_not_passages(article_passages):
    texts = [p.page_content for p in article_passages]
    assert len(article_passages) == 13
    assert not any(t.startswith("Iran’s Militias in Iraq Heading") for t in texts)
    assert "Plan T… Escape forward and return to the first allegation" not in texts
    assert "Officially, al-Sadr is out of the Iranian flock" not in texts
    # The closing copyright line ends with a full stop: a passage, not a heading.
    assert texts[-1].startswith("All publishing rights")


def test_metadata_of_every_passage(article_passages):
    text = read_text(ARTICLE)
    for number, passage in enumerate(article_passages, start=1):
        meta = passage.metadata
        assert meta["source"] == "iran-militias-iraq-plan-t.txt"
        assert (
            meta["title"] == "Iran’s Militias in Iraq Heading to Plan “T” to Avoid What is to Come"
        )
        assert meta["paragraph"] == number
        assert text[meta["start"] : meta["end"]] == passage.page_content


def test_headings_become_the_section_of_what_follows(article_passages):
    sections = [p.metadata["section"] for p in article_passages]
    assert sections[:2] == ["", ""]
    assert sections[2:7] == ["Plan T… Escape forward and return to the first allegation"] * 5
    assert set(sections[7:]) == {"Officially, al-Sadr is out of the Iranian flock"}
    plan_t = next(p for p in article_passages if "link the pressures" in p.page_content)
    assert plan_t.metadata["paragraph"] == 5
    assert plan_t.metadata["section"].startswith("Plan T")


def test_long_paragraph_is_split_at_sentences_not_truncated(embeddings):
    sentences = [
        f"Sentence number {i} talks about the militias and the elections in Iraq."
        for i in range(60)
    ]
    text = "A title\n\n" + " ".join(sentences) + "\n\nA short closing paragraph."
    passages = split_passages(
        text,
        source="long.txt",
        max_tokens=embeddings.max_tokens,
        count_tokens=embeddings.count_tokens,
    )
    long_parts = [p for p in passages if p.metadata["paragraph"] == 1]
    assert len(long_parts) > 1
    assert [p.metadata["part"] for p in long_parts] == list(range(1, len(long_parts) + 1))
    for part in long_parts:
        assert embeddings.count_tokens(part.page_content) <= embeddings.max_tokens
        assert part.page_content.endswith(".")
        assert text[part.metadata["start"] : part.metadata["end"]] == part.page_content
    assert " ".join(p.page_content for p in long_parts) == " ".join(sentences)
    assert passages[-1].metadata["paragraph"] == 2


def test_markdown_headings_and_crlf(tmp_path: Path):
    doc = tmp_path / "notes.md"
    doc.write_bytes(b"# Notes\r\n\r\nFirst paragraph here.\r\n\r\n## Later\r\n\r\nSecond one.")
    passages = split_passages(read_text(doc), source="notes.md")
    assert [(p.metadata["title"], p.metadata["section"], p.page_content) for p in passages] == [
        ("Notes", "", "First paragraph here."),
        ("Notes", "Later", "Second one."),
    ]


def test_legacy_encoding_and_bom(tmp_path: Path):
    (tmp_path / "a.txt").write_bytes("Title\n\nCafé “quoted”.".encode("cp1252"))
    (tmp_path / "b.txt").write_bytes("\ufeffTitle\n\nCafé.".encode("utf-8"))
    assert read_text(tmp_path / "a.txt").endswith("Café “quoted”.")
    assert read_text(tmp_path / "b.txt") == "Title\n\nCafé."


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"  \n\n ", "is empty"), (b"\x00\x01\x02binary", "binary")],
)
def test_unreadable_text_is_a_clear_error(tmp_path: Path, content: bytes, message: str):
    doc = tmp_path / "bad.txt"
    doc.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        read_text(doc)


def test_sources_are_relative_to_the_folder(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("T\n\nBody.")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("T\n\nBody.")
    # Unsupported files are counted in one line of the report; hidden ones are not.
    assert [f.source for f in find_files([tmp_path])] == ["sub/x.txt"]
    assert walk([tmp_path]).skipped == [
        (
            f"{tmp_path.as_posix()}/",
            f"1 file of an unsupported type: .png 1 (supported: {SUPPORTED}).",
        ),
    ]
    assert [f.source for f in find_files([CORPUS])] == ["iran-militias-iraq-plan-t.txt"]
    with pytest.raises(IngestError, match="does not exist"):
        find_files([tmp_path / "missing"])

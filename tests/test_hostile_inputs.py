"""Files and rows built to hurt: each costs bounded time and memory and fails on its own,
with a message, while everything around it is still indexed or evaluated."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.errors import IngestError
from assistant.evaluate.inputs import read_eval_file
from assistant.ingest.loaders import load_document
from assistant.ingest.passages import split_passages
from assistant.sources import list_sources
from assistant.store import StoreLocation
from assistant.text import split_sentences
from assistant.uploads import add_uploads, uploads_folder

from .conftest import CORPUS
from .support import docx_padded_to

# --- long lines --------------------------------------------------------------------------


def test_a_2_mb_line_without_punctuation_is_cut_in_seconds_and_loses_nothing(embeddings):
    # Cutting it used to take ~25 s per MB: every word re-tokenized the window before it.
    words = [f"word{i % 7919}" for i in range(280_000)]
    text = "Title\n\n" + " ".join(words)
    assert len(text) > 2_000_000
    started = time.perf_counter()
    passages = split_passages(
        text, source="x", max_tokens=embeddings.max_tokens, count_tokens=embeddings.count_tokens
    )
    assert time.perf_counter() - started < 20  # ~55 s before; ~3 s now, on one core
    assert all(embeddings.count_tokens(p.page_content) <= embeddings.max_tokens for p in passages)
    assert [w for p in passages for w in p.page_content.split()] == words
    assert all(text[p.metadata["start"] : p.metadata["end"]] == p.page_content for p in passages)


def test_a_long_first_line_is_a_passage_not_a_title(tmp_path):
    line = " ".join(f"word{i}" for i in range(2000))
    passages = split_passages(f"{line}\n\nA second paragraph.", source="x")
    assert passages[0].page_content == line  # was swallowed whole into every title
    assert all(len(p.metadata["title"]) <= 101 for p in passages)
    assert passages[0].metadata["title"].startswith("word0 word1")


def test_a_long_run_of_abbreviations_splits_in_linear_time():
    text = "Etc. " * 200_000  # each full stop looked back over the whole text before it
    started = time.perf_counter()
    assert len(split_sentences(text)) == 1
    assert time.perf_counter() - started < 5


# --- zip and PDF bombs -------------------------------------------------------------------


def test_a_large_file_shows_progress_within_it(tmp_path, embeddings, capsys):
    # One file of 300 passages: the file count stands at 0/1 until it is done, so the bar
    # says how far into the file the embedding is.
    from assistant.index import index_paths

    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = [f"Paragraph {i} says that the number {i} is odd or even." for i in range(300)]
    (docs / "long.txt").write_text("Long\n\n" + "\n\n".join(paragraphs))
    location = StoreLocation(tmp_path / "index", "progress")
    report = index_paths([docs], location=location, embeddings=embeddings, batch_size=64)
    assert report.added == 300
    shown = capsys.readouterr().err
    assert "long.txt: passage 1/300" in shown
    assert "long.txt: passage 129/300" in shown  # after two batches of 64
    assert "long.txt: passage 300/300" in shown


@pytest.mark.parametrize(
    ("inflated_mb", "message"),
    [
        (300, r"word/document.xml would inflate to 300.0 MB \(limit 200.0 MB\)"),
        (20, r"word/document.xml would inflate to 20.0 MB \([\d,]+ times its compressed size"),
    ],
)
def test_a_docx_zip_bomb_is_refused_before_it_is_inflated(tmp_path, inflated_mb, message):
    path = docx_padded_to(tmp_path / "bomb.docx", inflated_mb * 1024 * 1024)
    assert path.stat().st_size < inflated_mb * 1024 * 1024 / 100
    with pytest.raises(IngestError, match=message + r".*refusing a possible zip bomb"):
        load_document(path)


def test_an_ordinary_docx_still_loads(tmp_path):
    path = docx_padded_to(tmp_path / "fine.docx", 2 * 1024 * 1024)
    assert "A small visible paragraph." in load_document(path).pages[0].text


def test_a_pdf_with_too_many_pages_is_refused(tmp_path):
    import pypdf

    writer = pypdf.PdfWriter()
    for _ in range(5001):
        writer.add_blank_page(width=72, height=72)
    path = tmp_path / "pages.pdf"
    with open(path, "wb") as out:
        writer.write(out)
    with pytest.raises(IngestError, match=r"it has 5,001 pages \(limit 5,000\)"):
        load_document(path)


# --- the folder walk, sizes and encodings, through `assistant index` ---------------------


def _index(folder: Path, index_dir: Path, *args: str, **env: str):
    env = {"ASSISTANT_INDEX_DIR": str(index_dir), **env}
    return CliRunner().invoke(cli, ["index", str(folder), *args], env=env)


@pytest.mark.slow
def test_index_reports_big_files_guessed_encodings_and_links_and_indexes_the_rest(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("Outside\n\nA file that is not in the folder.")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Good\n\nThe lighthouse of Tarn is painted red.")
    (docs / "legacy.txt").write_bytes("Legacy\n\nCafé “quoted” text.".encode("cp1252"))
    (docs / "big.txt").write_text("Big\n\n" + "All work and no play. " * 100_000)  # 2.2 MB
    (docs / "copy.txt").symlink_to(docs / "good.txt")
    (docs / "out.txt").symlink_to(outside)
    (docs / "loop.txt").symlink_to(docs / "loop.txt")
    (docs / "up").symlink_to(tmp_path)

    result = _index(docs, tmp_path / "index", "--json", ASSISTANT_MAX_FILE_MB="1")
    assert result.exit_code == 1, result.output  # big.txt failed
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    failed = {f["source"]: f["error"] for f in report["failed"]}
    assert list(failed) == ["big.txt"]
    assert "it is 2.1 MB, over the 1 MB limit for one file" in failed["big.txt"]
    assert "ASSISTANT_MAX_FILE_MB" in failed["big.txt"]
    warnings = {w["source"]: w["warning"] for w in report["warnings"]}
    assert warnings["legacy.txt"].startswith("not UTF-8; read as Windows-1252 (cp1252)")
    assert warnings["copy.txt"].startswith("skipped: a symbolic link to a file of this folder")
    assert warnings["out.txt"].startswith(f"skipped: a symbolic link to {outside.resolve()}")
    assert (
        warnings["loop.txt"] == "skipped: a symbolic link that leads nowhere (broken, or a loop)."
    )
    assert (
        warnings["up"] == "skipped: a symbolic link to a folder; linked folders are not followed."
    )
    assert set(warnings) == {"legacy.txt", "copy.txt", "out.txt", "loop.txt", "up"}

    (docs / "big.txt").unlink()
    plain = _index(docs, tmp_path / "index")
    assert plain.exit_code == 0, plain.output
    assert "warning: legacy.txt: not UTF-8; read as Windows-1252" in plain.stderr
    assert "warning: loop.txt: skipped: a symbolic link that leads nowhere" in plain.stderr
    assert "Traceback" not in plain.output


def test_a_utf8_file_has_no_encoding_warning_and_a_declared_charset_neither(tmp_path):
    utf8 = tmp_path / "a.txt"
    utf8.write_text("Café\n\nText.", encoding="utf-8")
    assert load_document(utf8).warnings == ()
    page = tmp_path / "p.html"
    page.write_bytes(
        '<meta charset="windows-1252"><h1>Café</h1><p>Text “quoted”.</p>'.encode("cp1252")
    )
    assert load_document(page).warnings == ()


# --- uploads -----------------------------------------------------------------------------


@pytest.mark.slow
def test_an_upload_never_replaces_another_with_the_same_name(tmp_path, embeddings):
    location = StoreLocation(tmp_path / "index", "test")
    first, second = tmp_path / "a" / "notes.txt", tmp_path / "b" / "notes.txt"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text("Quokkas\n\nA quokka is a small wallaby of Rottnest Island.")
    second.write_text("Numbats\n\nA numbat eats termites in Western Australia.")

    def upload(path: Path):
        [result] = add_uploads([path], location=location, embeddings=embeddings, max_mb=1)
        assert result.ok, result.message
        return result

    upload(first)
    renamed = upload(second)
    assert renamed.message.startswith(
        "Kept as “notes (2).txt”: a different file named “notes.txt” was uploaded before"
    )
    again = upload(first)  # the same bytes again: the earlier copy, nothing new
    assert "Kept as" not in again.message and "0 passages added" in again.message
    folder = uploads_folder(location)
    assert sorted(p.name for p in folder.iterdir()) == ["notes (2).txt", "notes.txt"]
    assert (folder / "notes.txt").read_text() == first.read_text()
    keys = sorted(s.key for s in list_sources(location, embeddings))
    assert keys == ["uploads/notes (2).txt", "uploads/notes.txt"]


# --- evaluation rows ---------------------------------------------------------------------


def _deep_rows(tmp_path: Path) -> Path:
    path = tmp_path / "deep.jsonl"
    rows = [
        '{"question": "What is Plan T?", "answers": ["Plan T"]}',
        "[" * 100_000,
        '{"question": "Who?", "answers": "' + "[" * 100_000 + '"}',
        '{"question": "What did Muqtada al-Sadr demand?"}',
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_deeply_nested_json_line_is_rejected_by_line_and_the_rest_read(tmp_path):
    data = read_eval_file(_deep_rows(tmp_path))
    assert [q.line for q in data.questions] == [1, 4]
    assert data.warnings[0].startswith("deep.jsonl line 2: not readable JSON (nested too deeply")
    assert data.warnings[1].startswith("deep.jsonl line 3: nested too deeply")


def test_a_deeply_nested_squad_file_is_a_clear_error(tmp_path):
    from assistant.evaluate.inputs import EvalInputError

    path = tmp_path / "squad.json"
    path.write_text('{"data": ' + "[" * 100_000)
    with pytest.raises(EvalInputError, match="not readable SQuAD JSON .nested too deeply"):
        read_eval_file(path)


@pytest.mark.slow
def test_eval_survives_a_deeply_nested_line(tmp_path):
    env = {"ASSISTANT_INDEX_DIR": str(tmp_path / "index"), "ASSISTANT_CORPUS_DIR": str(CORPUS)}
    path = _deep_rows(tmp_path)
    result = CliRunner().invoke(cli, ["eval", str(path), "--format", "jsonl"], env=env)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "warning: deep.jsonl line 2: not readable JSON (nested too deeply" in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 4]

"""Load documents and cut them into passages with metadata.

A document is split into paragraphs at blank lines. Its first line is the title; a short line
standing alone (no closing punctuation, followed by more text) is a section heading: it becomes
the ``section`` of the paragraphs after it and is not a passage itself. A paragraph longer than
the embedding model's window is split at sentence boundaries, never truncated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from langchain_core.documents import Document

from assistant.errors import IngestError
from assistant.text import Span, split_sentences

SUPPORTED_SUFFIXES = (".txt", ".md")
_BLOCK = re.compile(r"\S(?:.*?\S)?(?=\n[ \t]*\n|\s*\Z)", re.DOTALL)
_HEADING_MAX_WORDS = 16
_CLOSING_PUNCTUATION = tuple(".!?:;,\"”’'")

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class SourceFile:
    """A file to index and the name it is known by in citations."""

    path: Path
    source: str


def find_files(paths: Iterable[Path]) -> list[SourceFile]:
    """List the supported files under ``paths``; ``source`` is relative to the folder given.

    Raises:
        IngestError: a path does not exist.
    """
    found: list[SourceFile] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file() and file.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.append(SourceFile(file, file.relative_to(path).as_posix()))
        elif path.is_file():
            found.append(SourceFile(path, path.name))
        else:
            raise IngestError(f"{path} does not exist; give a file or a folder of documents.")
    return found


def read_text(path: Path) -> str:
    """Read a text file as UTF-8 (with or without BOM), falling back to cp1252.

    Raises:
        IngestError: the file is unreadable, binary or empty.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror}).") from exc
    if b"\x00" in raw[:8192]:
        raise IngestError(f"{path}: looks like a binary file, not text.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError(f"{path}: is empty; there is nothing to index.")
    return text


def split_passages(
    text: str,
    *,
    source: str,
    max_tokens: int | None = None,
    count_tokens: TokenCounter | None = None,
) -> list[Document]:
    """Cut a document's text into passages with ``source``, ``title``, ``section``,
    ``paragraph`` (1-based), ``start`` and ``end`` (offsets into ``text``) in their metadata.

    With ``max_tokens`` and ``count_tokens``, a paragraph longer than ``max_tokens`` is split
    at sentence boundaries into parts (``part`` 1, 2, ... in the metadata).
    """
    blocks = [Span(m.group(), m.start(), m.end()) for m in _BLOCK.finditer(text)]
    if not blocks:
        return []
    title, blocks = _take_title(blocks)
    passages: list[Document] = []
    section = ""
    paragraph = 0
    for i, block in enumerate(blocks):
        is_last = i == len(blocks) - 1
        if not is_last and _is_heading(block.text):
            section = _clean_heading(block.text)
            continue
        paragraph += 1
        pieces = _fit_to_window(block, max_tokens, count_tokens)
        for part, piece in enumerate(pieces, start=1):
            metadata = {
                "source": source,
                "title": title,
                "section": section,
                "paragraph": paragraph,
                "start": piece.start,
                "end": piece.end,
            }
            if len(pieces) > 1:
                metadata["part"] = part
            passages.append(Document(page_content=piece.text, metadata=metadata))
    return passages


def load_passages(
    files: Iterable[SourceFile],
    *,
    max_tokens: int | None = None,
    count_tokens: TokenCounter | None = None,
) -> Iterator[Document]:
    """Read each file and yield its passages (see :func:`split_passages`)."""
    for file in files:
        yield from split_passages(
            read_text(file.path),
            source=file.source,
            max_tokens=max_tokens,
            count_tokens=count_tokens,
        )


def _take_title(blocks: list[Span]) -> tuple[str, list[Span]]:
    first = blocks[0]
    first_line, newline, rest = first.text.partition("\n")
    title = _clean_heading(first_line)
    if not newline:
        return title, blocks[1:]
    offset = first.start + len(first_line) + 1
    stripped = rest.lstrip()
    remainder = Span(stripped, offset + len(rest) - len(stripped), first.end)
    return title, [remainder, *blocks[1:]]


def _is_heading(block: str) -> bool:
    if "\n" in block:
        return False
    if block.startswith("#"):
        return True
    return len(block.split()) <= _HEADING_MAX_WORDS and not block.endswith(_CLOSING_PUNCTUATION)


def _clean_heading(line: str) -> str:
    return line.strip().lstrip("#").strip()


def _fit_to_window(
    block: Span, max_tokens: int | None, count_tokens: TokenCounter | None
) -> list[Span]:
    if max_tokens is None or count_tokens is None or count_tokens(block.text) <= max_tokens:
        return [block]
    pieces: list[Span] = []
    current: list[Span] = []
    for sentence in _sentences_within(block.text, max_tokens, count_tokens):
        candidate = block.text[current[0].start : sentence.end] if current else sentence.text
        if current and count_tokens(candidate) > max_tokens:
            pieces.append(_join(block, current))
            current = []
        current.append(sentence)
    if current:
        pieces.append(_join(block, current))
    return pieces


def _sentences_within(text: str, max_tokens: int, count_tokens: TokenCounter) -> Iterator[Span]:
    """Yield the sentences of ``text``; one that alone overflows the window is cut at words."""
    for sentence in split_sentences(text):
        if count_tokens(sentence.text) <= max_tokens:
            yield sentence
            continue
        words = [Span(m.group(), sentence.start + m.start(), sentence.start + m.end())
                 for m in re.finditer(r"\S+", sentence.text)]
        chunk: list[Span] = []
        for word in words:
            if chunk and count_tokens(text[chunk[0].start : word.end]) > max_tokens:
                yield Span(text[chunk[0].start : chunk[-1].end], chunk[0].start, chunk[-1].end)
                chunk = []
            chunk.append(word)
        if chunk:
            yield Span(text[chunk[0].start : chunk[-1].end], chunk[0].start, chunk[-1].end)


def _join(block: Span, sentences: list[Span]) -> Span:
    start, end = sentences[0].start, sentences[-1].end
    return Span(block.text[start:end], block.start + start, block.start + end)

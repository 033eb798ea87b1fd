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
from assistant.ingest.loaders import LoadedDocument, Page, load_document
from assistant.text import Span, split_sentences

_BLOCK = re.compile(r"\S(?:.*?\S)?(?=\n[ \t]*\n|\s*\Z)", re.DOTALL)
_HEADING_MAX_WORDS = 16
_CLOSING_PUNCTUATION = tuple(".!?:;,\"”’'")

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class SourceFile:
    """A file to index, the name it is known by in citations, and the folder it came from.

    ``source`` is relative to ``folder`` (the resolved folder it was found in); ``origin`` is
    the index's stable name for that folder (see :mod:`assistant.index`), never a path, so
    that moving the folder changes no passage.
    """

    path: Path
    source: str
    origin: str = ""
    folder: str = ""

    @property
    def key(self) -> str:
        """Unique per file: two folders may each hold a ``notes.txt``."""
        return f"{self.origin}/{self.source}" if self.origin else self.source


def printable(text: str) -> str:
    """``text`` with any byte that is not UTF-8 (a file name's, kept by Python as a lone
    surrogate) written as ``\\xNN``: safe to store, print and put in JSON, and reversible."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def find_files(paths: Iterable[Path]) -> list[SourceFile]:
    """List the files under ``paths``; ``source`` is relative to the folder given.

    Every visible file is listed, supported or not, so that an unsupported one is reported
    as failed (with the formats that are supported) rather than silently passed over.

    Raises:
        IngestError: a path does not exist.
    """
    found: list[SourceFile] = []
    for path in paths:
        if path.is_dir():
            folder = str(path.resolve())
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(path)
                if file.is_file() and not any(part.startswith(".") for part in relative.parts):
                    found.append(SourceFile(file, printable(relative.as_posix()), folder=folder))
        elif path.exists():
            found.append(SourceFile(path, printable(path.name), folder=str(path.resolve().parent)))
        else:
            raise IngestError(f"{path} does not exist; give a file or a folder of documents.")
    return found


def split_passages(
    text: str,
    *,
    source: str,
    max_tokens: int | None = None,
    count_tokens: TokenCounter | None = None,
) -> list[Document]:
    """Cut plain text into passages: see :func:`split_document`."""
    document = LoadedDocument(title=None, pages=[Page(text=text, number=None)])
    return split_document(document, source=source, max_tokens=max_tokens, count_tokens=count_tokens)


def split_document(
    document: LoadedDocument,
    *,
    source: str,
    max_tokens: int | None = None,
    count_tokens: TokenCounter | None = None,
) -> list[Document]:
    """Cut a loaded document into passages with ``source``, ``title``, ``section``,
    ``paragraph`` (1-based, document order), ``start`` and ``end`` (offsets into the page's
    text; for a text file, the file's) and ``page`` (PDFs) in their metadata.

    With ``max_tokens`` and ``count_tokens``, a paragraph longer than ``max_tokens`` is split
    at sentence boundaries into parts (``part`` 1, 2, ... in the metadata).
    """
    pages = [(page, _blocks(page.text)) for page in document.pages]
    pages = [(page, blocks) for page, blocks in pages if blocks]
    if not pages:
        return []
    title = document.title
    if title is None:
        title, first_blocks = _take_title(pages[0][1])
        pages[0] = (pages[0][0], first_blocks)
    elif pages[0][1] and _clean_heading(pages[0][1][0].text) == title:
        pages[0] = (pages[0][0], pages[0][1][1:])  # the <h1> that repeats the title
    passages: list[Document] = []
    section = ""
    paragraph = 0
    for page_index, (page, blocks) in enumerate(pages):
        for i, block in enumerate(blocks):
            is_last = page_index == len(pages) - 1 and i == len(blocks) - 1
            if not is_last and _is_heading(block.text):
                section = _clean_heading(block.text)
                continue
            paragraph += 1
            pieces = _fit_to_window(block, max_tokens, count_tokens)
            for part, piece in enumerate(pieces, start=1):
                metadata: dict[str, str | int] = {
                    "source": source,
                    "title": title,
                    "section": section,
                    "paragraph": paragraph,
                    "start": piece.start,
                    "end": piece.end,
                }
                if page.number is not None:
                    metadata["page"] = page.number
                if len(pieces) > 1:
                    metadata["part"] = part
                passages.append(Document(page_content=piece.text, metadata=metadata))
    return passages


def load_passages(
    file: SourceFile,
    *,
    max_tokens: int | None = None,
    count_tokens: TokenCounter | None = None,
) -> list[Document]:
    """Load one file and cut it into passages.

    Raises:
        IngestError: the file cannot be read, is of an unsupported kind, or holds no text.
    """
    passages = split_document(
        load_document(file.path),
        source=file.source,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
    )
    if not passages:
        raise IngestError(f"“{file.path}” holds no text to index.")
    for passage in passages:
        passage.metadata["origin"] = file.origin
        passage.metadata["doc_key"] = file.key
    return passages


def _blocks(text: str) -> list[Span]:
    return [Span(m.group(), m.start(), m.end()) for m in _BLOCK.finditer(text)]


def _take_title(blocks: list[Span]) -> tuple[str, list[Span]]:
    if not blocks:
        return "", blocks
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
        words = [
            Span(m.group(), sentence.start + m.start(), sentence.start + m.end())
            for m in re.finditer(r"\S+", sentence.text)
        ]
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

"""Load documents and cut them into passages with metadata.

A document is split into paragraphs at blank lines. Its first line is the title; a short line
standing alone (no closing punctuation, followed by more text) is a section heading: it becomes
the ``section`` of the paragraphs after it and is not a passage itself. Where the loader marks
the headings (a web page's ``<h1>``–``<h6>``), those are the sections instead. A paragraph
longer than the embedding model's window is split at sentence boundaries, never truncated; a
code block at line ends.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from langchain_core.documents import Document

from assistant.errors import IngestError
from assistant.ingest.loaders import SUPPORTED_SUFFIXES, LoadedDocument, Page, load_document
from assistant.text import Span, split_sentences

_BLOCK = re.compile(r"\S(?:.*?\S)?(?=\n[ \t]*\n|\s*\Z)", re.DOTALL)
_HEADING_MAX_WORDS = 16
_TITLE_MAX_CHARS = 300  # a longer first line is a paragraph, not a title
_SHORT_TITLE_CHARS = 100
_CLOSING_PUNCTUATION = tuple(".!?:;,\"”’'")
_SHOWN_TYPES = 6  # file types named in the summary of unsupported files
_GENERATED_NAME = re.compile(r"(genindex(-[^/]*)?|([a-z]+-)?modindex|search)\.html?")
_GENERATED_MARKERS = (b"indextable", b"genindex-jumpbox", b"searchtools.js", b"search-results")
_GENERATED_SNIFF_BYTES = 64 * 1024

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


@dataclass(frozen=True)
class FoundFiles:
    """The files to index under some paths, and what was passed over there and why."""

    files: list[SourceFile]
    skipped: list[tuple[str, str]]  # (source, reason), for the index's report


def find_files(paths: Iterable[Path]) -> list[SourceFile]:
    """List the files under ``paths``: :func:`walk`'s files.

    Raises:
        IngestError: a path does not exist.
    """
    return walk(paths).files


def walk(paths: Iterable[Path]) -> FoundFiles:
    """List the files under ``paths``; ``source`` is relative to the folder given.

    In a folder, files of unsupported types, a documentation build's generated pages (see
    :func:`generated_page`) and its copies of the sources (Sphinx's ``_sources/``) are
    passed over and counted: one line each in ``skipped``, under the folder's name ("412
    files of unsupported types: .png 302, .js 31, …"). A path given itself is always listed,
    so that an unsupported one is reported as failed, with the formats that are supported.
    Symbolic links inside a folder are not followed (see :func:`_link_problem`) and neither
    are pipes or devices; they are listed in ``skipped``. A path given itself is followed.

    Raises:
        IngestError: a path does not exist.
    """
    found: list[SourceFile] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            files, passed_over = _walk_folder(path)
            found += files
            skipped += passed_over
        elif path.exists():
            found.append(SourceFile(path, printable(path.name), folder=str(path.resolve().parent)))
        else:
            raise IngestError(f"{path} does not exist; give a file or a folder of documents.")
    return FoundFiles(found, skipped)


def _walk_folder(path: Path) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    root = path.resolve()
    found: list[SourceFile] = []
    skipped: list[tuple[str, str]] = []
    unsupported: Counter[str] = Counter()
    generated: list[str] = []
    build_sources: list[str] = []
    # rglob does not descend into linked folders, so a loop cannot trap it.
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        if any(part.startswith(".") for part in relative.parts):
            continue
        source = printable(relative.as_posix())
        suffix = file.suffix.lower()
        is_file = file.is_file() or (file.is_symlink() and not file.is_dir())  # broken links
        if suffix not in SUPPORTED_SUFFIXES and is_file:
            unsupported[suffix or "(no extension)"] += 1  # linked or not: never read
        elif file.is_symlink():
            skipped.append((source, _link_problem(file, root)))
        elif file.is_file():
            if _in_sphinx_sources(file, path):
                build_sources.append(source)
            elif generated_page(file):
                generated.append(source)
            else:
                found.append(SourceFile(file, source, folder=str(root)))
        elif not file.is_dir():
            skipped.append((source, "not a regular file (a pipe, socket or device)."))
    folder = printable(path.as_posix()).rstrip("/") + "/"
    if unsupported:
        skipped.append((folder, unsupported_summary(unsupported)))
    if generated:
        nouns = ("generated index or search page", "generated index or search pages")
        skipped.append((folder, _count_line(generated, *nouns)))
    if build_sources:
        nouns = ("page source copied by Sphinx", "page sources copied by Sphinx")
        skipped.append((folder, _count_line(build_sources, *nouns)))
    return found, skipped


def unsupported_summary(counts: Mapping[str, int]) -> str:
    """One line for a folder's files of unsupported types, commonest first: "412 files of
    unsupported types: .png 302, .js 31, .css 12, …"."""
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{suffix} {n:,}" for suffix, n in ranked[:_SHOWN_TYPES])
    more = ", …" if len(ranked) > _SHOWN_TYPES else ""
    noun = "file of an unsupported type" if total == 1 else "files of unsupported types"
    return f"{total:,} {noun}: {shown}{more} (supported: {', '.join(SUPPORTED_SUFFIXES)})."


def _count_line(sources: list[str], singular: str, plural: str) -> str:
    examples = ", ".join(sources[:3]) + (", …" if len(sources) > 3 else "")
    return f"{len(sources):,} {singular if len(sources) == 1 else plural}: {examples}."


def generated_page(path: Path) -> bool:
    """Whether ``path`` is a page a documentation generator builds from the others (Sphinx's
    genindex, module index and search page): lists of links, not answer material. Told by
    its standard name and confirmed by Sphinx's markup."""
    if not _GENERATED_NAME.fullmatch(path.name.lower()):
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(_GENERATED_SNIFF_BYTES)
    except OSError:
        return False  # loading it will say what is wrong
    return any(marker in head for marker in _GENERATED_MARKERS)


def _in_sphinx_sources(file: Path, root: Path) -> bool:
    """Whether ``file`` is in the ``_sources/`` folder of a Sphinx build (told by the
    build's ``objects.inv`` or ``searchindex.js`` beside it): copies of the pages' sources."""
    parts = file.relative_to(root).parts
    if "_sources" not in parts[:-1]:
        return False
    build = root.joinpath(*parts[: parts.index("_sources")])
    return _is_sphinx_build(build)


def _is_sphinx_build(folder: Path) -> bool:
    return (folder / "searchindex.js").is_file() or (folder / "objects.inv").is_file()


def _link_problem(link: Path, root: Path) -> str:
    """Why a symbolic link found in a folder is skipped. Followed, a link to a file of the
    folder would index it twice, one to a folder could loop, and one leading out of the
    folder would index what the folder does not hold."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: a loop, on Python < 3.13
        return "a symbolic link that leads nowhere (broken, or a loop)."
    if target.is_dir():
        return "a symbolic link to a folder; linked folders are not followed."
    if target.is_relative_to(root):
        return "a symbolic link to a file of this folder, which is indexed under its own name."
    return (
        f"a symbolic link to {printable(str(target))}, outside the folder; "
        "copy the file in, or index it by its own path."
    )


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
    text; for a text file, the file's), ``page`` (PDFs) and ``entry`` (the qualified name
    of the API entry a web page's paragraph describes, where it has one) in their metadata.

    With ``max_tokens`` and ``count_tokens``, a paragraph longer than ``max_tokens`` is split
    at sentence boundaries into parts (``part`` 1, 2, ... in the metadata).
    """
    pages = [(page, _blocks(page.text)) for page in document.pages]
    pages = [(page, blocks) for page, blocks in pages if blocks]
    if not pages:
        return []
    title = None if document.title is None else _short_title(document.title)
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
            if page.headings is not None:  # the format marks its headings
                if block.start in page.headings:
                    section = block.text
                    continue
            elif not is_last and _is_heading(block.text):
                section = _clean_heading(block.text)
                continue
            paragraph += 1
            by_lines = block.start in page.code
            pieces = _fit_to_window(block, max_tokens, count_tokens, by_lines=by_lines)
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
                if block.start in page.entries:
                    metadata["entry"] = page.entries[block.start]
                if len(pieces) > 1:
                    metadata["part"] = part
                passages.append(Document(page_content=piece.text, metadata=metadata))
    return passages


def load_passages(
    file: SourceFile,
    *,
    max_tokens: int | None = None,
    count_tokens: TokenCounter | None = None,
    max_file_mb: float | None = None,
    warn: Callable[[str], None] | None = None,
    fingerprint: Callable[[int, str], None] | None = None,
) -> list[Document]:
    """Load one file and cut it into passages.

    ``max_file_mb``: refuse a larger file. ``warn`` is given what the user should check in
    a file that did load (such as a guessed encoding); ``fingerprint``, the size and sha256
    of the bytes the passages were cut from.

    Raises:
        IngestError: the file cannot be read, is of an unsupported kind, is too large, or
            holds no text.
    """
    document = load_document(file.path, max_mb=max_file_mb)
    if warn is not None:
        for warning in document.warnings:
            warn(warning)
    passages = split_document(
        document,
        source=file.source,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
    )
    if not passages:
        raise IngestError(f"“{file.path}” holds no text to index.")
    if fingerprint is not None:
        fingerprint(document.size, document.sha256)
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
    if len(title) > _TITLE_MAX_CHARS:  # text, not a title: keep it as a passage
        return _short_title(title), blocks
    if not newline:
        return title, blocks[1:]
    offset = first.start + len(first_line) + 1
    stripped = rest.lstrip()
    remainder = Span(stripped, offset + len(rest) - len(stripped), first.end)
    return title, [remainder, *blocks[1:]]


def _short_title(title: str) -> str:
    """``title`` cut to a title's length at a space: every passage carries its title, so a
    document whose "title" is megabytes long would be stored that many times over."""
    if len(title) <= _TITLE_MAX_CHARS:
        return title
    return title[:_SHORT_TITLE_CHARS].rsplit(maxsplit=1)[0].rstrip() + "…"


def _is_heading(block: str) -> bool:
    if "\n" in block:
        return False
    if block.startswith("#"):
        return True
    return len(block.split()) <= _HEADING_MAX_WORDS and not block.endswith(_CLOSING_PUNCTUATION)


def _clean_heading(line: str) -> str:
    return line.strip().lstrip("#").strip()


def _fit_to_window(
    block: Span,
    max_tokens: int | None,
    count_tokens: TokenCounter | None,
    *,
    by_lines: bool = False,
) -> list[Span]:
    """``block`` cut into parts that fit the window: at sentences, or for code
    (``by_lines``) at line ends, so that no line of code is cut in two."""
    if max_tokens is None or count_tokens is None:
        return [block]
    if _tokens_if_fits(block.text, max_tokens, count_tokens) is not None:
        return [block]
    if by_lines:
        units = _units_within(_lines(block.text), block.text, max_tokens, count_tokens)
    else:
        units = _units_within(split_sentences(block.text), block.text, max_tokens, count_tokens)
    return [_join(block, run) for run, _ in _pack(block.text, units, max_tokens, count_tokens)]


def _lines(text: str) -> list[Span]:
    return [Span(m.group(), m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]


def _units_within(
    units: Iterable[Span], text: str, max_tokens: int, count_tokens: TokenCounter
) -> Iterator[tuple[Span, int]]:
    """Yield the units (sentences or lines) of ``text`` with their token counts; one that
    alone overflows the window is cut at words."""
    whole = Span(text, 0, len(text))
    counted: dict[str, int] = {}  # a word's count: long texts repeat their words
    for sentence in units:
        tokens = _tokens_if_fits(sentence.text, max_tokens, count_tokens)
        if tokens is not None:
            yield sentence, tokens
            continue
        words = []
        for m in re.finditer(r"\S+", sentence.text):
            if len(counted) > 100_000:
                counted.clear()
            word = m.group()
            if word not in counted:
                counted[word] = count_tokens(word)
            span = Span(word, sentence.start + m.start(), sentence.start + m.end())
            words.append((span, counted[word]))
        for run, tokens in _pack(text, words, max_tokens, count_tokens):
            yield _join(whole, run), tokens


def _tokens_if_fits(text: str, max_tokens: int, count_tokens: TokenCounter) -> int | None:
    """``text``'s token count if it fits the window, else None."""
    # Every word is at least one token: a text with as many words as the window holds
    # tokens overflows it, found without tokenizing megabytes.
    if len(text.split()) >= max_tokens:
        return None
    tokens = count_tokens(text)
    return tokens if tokens <= max_tokens else None


def _pack(
    text: str, units: Iterable[tuple[Span, int]], max_tokens: int, count_tokens: TokenCounter
) -> Iterator[tuple[list[Span], int]]:
    """Group consecutive units (sentences or words of ``text``, with their token counts)
    into runs that fit the window, greedily; a unit too long alone is a run of its own.
    Yield each run with its token count.

    Counting every candidate run whole made this quadratic in the window and slow in a
    line's length (~25 s per MB without punctuation). The units' counts are summed instead,
    less the special tokens each count includes; for WordPiece, which splits at spaces,
    that is the run's exact count. A run of several units is still counted whole once, and
    shortened if the tokenizer disagrees, so no run overflows.
    """
    special = count_tokens("")
    run: list[Span] = []
    total = special
    for unit, tokens in units:
        if run and total + tokens - special > max_tokens:
            yield from _fitted(text, run, total, max_tokens, count_tokens)
            run, total = [], special
        run.append(unit)
        total += tokens - special
    if run:
        yield from _fitted(text, run, total, max_tokens, count_tokens)


def _fitted(
    text: str, run: list[Span], estimate: int, max_tokens: int, count_tokens: TokenCounter
) -> Iterator[tuple[list[Span], int]]:
    if len(run) == 1:  # a unit's own count is exact, and a unit is never cut here
        yield run, estimate
        return
    while run:
        size = len(run)
        tokens = count_tokens(text[run[0].start : run[-1].end])
        while size > 1 and tokens > max_tokens:
            size -= 1
            tokens = count_tokens(text[run[0].start : run[size - 1].end])
        yield run[:size], tokens
        run = run[size:]


def _join(block: Span, sentences: list[Span]) -> Span:
    start, end = sentences[0].start, sentences[-1].end
    return Span(block.text[start:end], block.start + start, block.start + end)

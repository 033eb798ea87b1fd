"""Read documents of several formats into plain text, page by page.

Every loader returns paragraphs separated by blank lines, with headings as their own short
lines, because that is the shape :mod:`assistant.ingest` cuts into passages and sections.
Anything wrong with a file becomes an :class:`IngestError` whose message names the file and
says what to do; library exceptions never escape, since a bad file is the user's to fix.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.errors import IngestError
from assistant.ingest.limits import check_size, check_zip, pdf_texts

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")

_SUPPORTED_LIST = ", ".join(SUPPORTED_SUFFIXES)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # C0/C1 controls, not \t\n\v\f\r
_BINARY_CONTROL_SHARE = 0.10
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SPACES = re.compile(r"\s+")
_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)|<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)""",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?:][\"'”’»)]*$")
_BROKEN_WORD = re.compile(r"[^\W\d_][-\u00ad]$")
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl"})

_FALLBACK_NAMES = {"cp1252": "Windows-1252 (cp1252)", "latin-1": "Latin-1 (ISO-8859-1)"}


@dataclass(frozen=True)
class Page:
    """A page of text. Where the format marks its structure (HTML), ``headings`` and ``code``
    hold the start offsets of its heading and preformatted paragraphs; ``headings`` is None
    where it does not, and the splitter tells headings by their shape. ``entries``: the
    start offsets of the paragraphs of an API entry, with the entry's qualified name."""

    text: str  # plain text; paragraphs separated by blank lines ("\n\n")
    number: int | None  # 1-based page number for PDFs, None otherwise
    # What the text says is compared; the structure is derived from the same markup.
    headings: frozenset[int] | None = field(default=None, compare=False)
    code: frozenset[int] = field(default=frozenset(), compare=False)
    entries: Mapping[int, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class LoadedDocument:
    title: str | None  # None when the format has no title; the caller then uses the first line
    pages: list[Page]
    warnings: tuple[str, ...] = ()  # loaded, but the user should check something (encoding)
    # The file's bytes this was read from: their count and sha256 (what the index records,
    # to pass over the file while its bytes stay the same).
    size: int = field(default=0, compare=False)
    sha256: str = field(default="", compare=False)


def load_document(path: Path, *, max_mb: float | None = None) -> LoadedDocument:
    """Read ``path`` (one of :data:`SUPPORTED_SUFFIXES`) into a title and pages of text.

    ``max_mb``: refuse a larger file, before reading it (``ASSISTANT_MAX_FILE_MB``).

    Raises:
        IngestError: the file is missing, unreadable, empty, corrupt, of an unsupported type,
            over ``max_mb``, or past a bound of :mod:`assistant.ingest.limits` (a zip bomb).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise _error(path, "it is a folder, not a file.", "Give the path of a document.")
    if not path.is_file():
        raise _error(path, "it does not exist.", "Check the name and location of the file.")
    check_supported(path)
    if max_mb is not None:
        check_size(path, max_mb)
    raw = _read_bytes(path)
    if not raw.strip():
        raise _error(path, "it is empty; there is nothing to index.", "Check it is the right file.")
    loader = {".pdf": _load_pdf, ".docx": _load_docx, ".html": _load_html, ".htm": _load_html}
    document = loader.get(suffix, _load_text)(path, raw)
    if not any(page.text.strip() for page in document.pages):
        raise _error(
            path, "it contains no text; there is nothing to index.", "Check it is the right file."
        )
    return replace(document, size=len(raw), sha256=hashlib.sha256(raw).hexdigest())


def check_supported(path: Path) -> None:
    """Raise a message naming the supported formats unless ``path`` has one of them.

    Raises:
        IngestError: the file's extension is not one of :data:`SUPPORTED_SUFFIXES`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"“{suffix}” files are" if suffix else "files without an extension are"
        raise _error(
            path,
            f"{kind} not supported (supported: {_SUPPORTED_LIST}).",
            "Save or convert the document to one of those formats and add it again.",
        )


def _error(path: Path, problem: str, fix: str) -> IngestError:
    return IngestError(f"Cannot load “{path}”: {problem} {fix}")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError as exc:
        raise _error(
            path,
            "it cannot be opened: permission denied.",
            "Give your user permission to read the file, or copy it somewhere readable.",
        ) from exc
    except OSError as exc:
        reason = exc.strerror or "the system refused"
        raise _error(
            path,
            f"it cannot be read ({reason}).",
            "Check the file is still there and the disk is working.",
        ) from exc


# --- plain text ------------------------------------------------------------------------
def _load_text(path: Path, raw: bytes) -> LoadedDocument:
    text, fallback = _decode_text(path, raw)
    return LoadedDocument(None, [Page(text, None)], _encoding_warnings(fallback))


def _encoding_warnings(fallback: str | None) -> tuple[str, ...]:
    """Say so when a guess decoded the file: a wrong guess garbles accents and quotes."""
    if fallback is None:
        return ()
    return (
        f"not UTF-8; read as {_FALLBACK_NAMES[fallback]}. Check its accented letters and "
        "quotes in the answers, or save it as UTF-8.",
    )


def _decode_text(path: Path, raw: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Decode bytes whose encoding is unknown: BOM, then ``declared``, then UTF-8, then the
    legacy Windows (cp1252) and Latin-1 encodings old editors save in. Return the text and
    the fallback encoding used, if one was (None: BOM, declared or UTF-8)."""
    bom = next((encoding for bom, encoding in _BOMS if raw.startswith(bom)), None)
    if bom:
        text, used = raw.decode(bom, "replace"), bom
    else:
        text, used = _first_decoding(raw, [declared, "utf-8", "cp1252"])
    # Text never holds NUL (once UTF-16 is decoded) and rarely other control characters.
    if "\x00" in text or len(_CONTROL.findall(text)) > _BINARY_CONTROL_SHARE * len(text):
        raise _error(
            path,
            f"it looks like a binary file, not text, though its name ends in {path.suffix}.",
            "Check it is the right file, or export it as text.",
        )
    fallback = used if used in _FALLBACK_NAMES and used != declared else None
    return text.replace("\r\n", "\n").replace("\r", "\n"), fallback


def _first_decoding(raw: bytes, encodings: list[str | None]) -> tuple[str, str]:
    for encoding in filter(None, encodings):
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("latin-1"), "latin-1"  # maps every byte, so it is the final fallback


# --- HTML --------------------------------------------------------------------------------
def _load_html(path: Path, raw: bytes) -> LoadedDocument:
    from assistant.ingest.html import parse_html, read_html

    text, fallback = _decode_text(path, raw, _declared_charset(raw))
    try:
        soup = parse_html(text)
    except Exception as exc:  # a parser can fail in many ways on broken markup
        raise _error(
            path,
            "it could not be read as a web page.",
            "Open it in a browser and save it again as HTML.",
        ) from exc
    html = read_html(soup)
    page = Page(html.text, None, headings=html.headings, code=html.code, entries=html.entries)
    return LoadedDocument(html.title or None, [page], _encoding_warnings(fallback))


def _declared_charset(raw: bytes) -> str | None:
    match = _CHARSET.search(raw[:4096])
    if not match:
        return None
    name = (match.group(1) or match.group(2)).decode("ascii").lower()
    try:
        name = codecs.lookup(name).name
    except LookupError:
        return None
    # As browsers do (WHATWG Encoding): Latin-1/ASCII labels mean windows-1252, and a UTF-16
    # label on a page without a BOM is a mistake for UTF-8.
    return {"iso8859-1": "cp1252", "ascii": "cp1252"}.get(
        name, "utf-8" if name.startswith("utf-16") else name
    )


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


# --- PDF ---------------------------------------------------------------------------------
def _load_pdf(path: Path, raw: bytes) -> LoadedDocument:
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):  # "" opens owner-only protection
            raise _error(
                path,
                "it is protected by a password.",
                "Open it with the password and save an unprotected copy, then add that copy.",
            )
        title = _collapse(str(reader.metadata.title or "") if reader.metadata else "")
        texts = pdf_texts(path, reader)
    except IngestError:
        raise
    except pypdf.errors.DependencyError as exc:  # AES needs the optional `cryptography`
        raise _error(
            path,
            "it uses an encryption this installation cannot open.",
            "Save an unprotected copy of the PDF and add that.",
        ) from exc
    except Exception as exc:  # pypdf raises many exception types on damaged files
        raise _error(
            path,
            "it is damaged or not really a PDF.",
            "Open it in a PDF viewer and save or export a new copy.",
        ) from exc
    pages = [Page(_pdf_page_text(text), number) for number, text in enumerate(texts, 1)]
    pages = [page for page in pages if page.text]
    if not pages:
        raise _error(
            path,
            "it has no extractable text; it is probably a scanned image.",
            "Run it through OCR (text recognition) first, then add the result.",
        )
    return LoadedDocument(title or None, pages)


def _pdf_page_text(text: str) -> str:
    """pypdf gives one string per printed line; rebuild paragraphs. Blank lines always end a
    paragraph. On a page without any, a line ending a sentence ends one, and a short line
    without closing punctuation (a heading, a caption) stands alone."""
    lines = [_collapse(line.translate(_LIGATURES)) for line in text.strip().split("\n")]
    use_heuristics = "" not in lines
    widest = max((len(line) for line in lines), default=0)
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if not line:
            paragraphs.append([])
            continue
        ends_sentence = bool(_SENTENCE_END.search(line))
        short_heading = len(line) < 0.6 * widest and not ends_sentence
        if use_heuristics and short_heading and paragraphs[-1]:
            paragraphs.append([])
        paragraphs[-1].append(line)
        if use_heuristics and (short_heading or ends_sentence):
            paragraphs.append([])
    return "\n\n".join(_join_lines(p) for p in paragraphs if p)


def _join_lines(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        # "infor-" + "mation": a word broken across lines is rejoined (a compound like
        # "well-known" split at its hyphen loses it, but that is the rarer case).
        # Only the end is looked at: searching the whole growing text was quadratic.
        if _BROKEN_WORD.search(text[-2:]) and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}"
    return text


# --- DOCX --------------------------------------------------------------------------------
def _load_docx(path: Path, raw: bytes) -> LoadedDocument:
    import docx

    check_zip(path, raw)
    try:
        document = docx.Document(io.BytesIO(raw))
        title = _collapse(document.core_properties.title or "")
        blocks = list(_docx_blocks(document))
    except Exception as exc:  # bad zip, missing parts, broken XML: all mean a damaged file
        raise _error(
            path,
            "it is damaged or not really a Word (.docx) document.",
            "Open it in Word or LibreOffice and save a new copy as .docx.",
        ) from exc
    if not title:
        title = next((text for text, is_heading in blocks if is_heading), "")
    text = "\n\n".join(text for text, _ in blocks)
    return LoadedDocument(title or None, [Page(text, None)])


def _docx_blocks(container) -> Iterator[tuple[str, bool]]:
    """Yield (text, is_heading) for each paragraph and table cell, in document order."""
    from docx.table import Table

    for item in container.iter_inner_content():
        if isinstance(item, Table):
            seen: set[object] = set()  # the cells' XML elements: a merged cell repeats
            for row in item.rows:
                for cell in row.cells:
                    if cell._tc not in seen:
                        seen.add(cell._tc)
                        yield from _docx_blocks(cell)
            continue
        style = item.style.name if item.style is not None else ""
        is_heading = style.startswith(("Heading", "Title"))
        # Line breaks inside a paragraph stay; blank ones would split it in two, so drop them.
        lines = [_collapse(line) for line in item.text.split("\n")]
        text = (" " if is_heading else "\n").join(line for line in lines if line)
        if text:
            yield text, is_heading

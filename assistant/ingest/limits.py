"""Bounds on what one hostile file can cost to load: its size, and how far it inflates.

A .docx is a zip: its members' sizes are read from the zip's directory before anything is
inflated (zipfile never inflates a member past the size the directory gives). A PDF's
streams inflate one at a time as pages are read, and pypdf caps each one (75 MB), so the
document as a whole is bounded while its pages are read.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from assistant.errors import IngestError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_MB = 1024 * 1024
# XML deflates about 5-20:1; a zip bomb inflates 1,000:1 and more.
_DOCX_MAX_INFLATED = 200 * _MB
_ZIP_MAX_RATIO = 100
_ZIP_RATIO_FLOOR = 10 * _MB  # small members may compress as well as they like
# pypdf already caps each decompressed stream (75 MB); these bound the document as a whole.
_PDF_MAX_PAGES = 5000
_PDF_MAX_TEXT_CHARS = 100_000_000


def check_size(path: Path, max_mb: float) -> None:
    """Refuse a file larger than ``max_mb`` (``ASSISTANT_MAX_FILE_MB``) before reading it."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # reading it will say what is wrong
    if size > max_mb * _MB:
        raise _refuse(
            path,
            f"it is {_size(size)}, over the {max_mb:g} MB limit for one file.",
            "Raise ASSISTANT_MAX_FILE_MB to index it.",
        )


def _size(n: int) -> str:
    if n >= 1024 * _MB:
        return f"{n / (1024 * _MB):.1f} GiB"
    return f"{n / _MB:.1f} MB"


def check_zip(path: Path, raw: bytes) -> None:
    """Refuse a zip whose members would inflate too far, reading only its directory."""
    import zipfile

    try:
        members = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip: the loader reports the file as damaged
    fix = "Open it in Word or LibreOffice and save a new copy, if you trust where it came from."
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        too_big = member.file_size > _DOCX_MAX_INFLATED
        if too_big or (ratio > _ZIP_MAX_RATIO and member.file_size > _ZIP_RATIO_FLOOR):
            name = _CONTROL.sub("?", member.filename)[:100]
            limit = (
                f"limit {_size(_DOCX_MAX_INFLATED)}"
                if too_big
                else f"{ratio:,.0f} times its compressed size; limit {_ZIP_MAX_RATIO}"
            )
            raise _refuse(
                path,
                f"{name} would inflate to {_size(member.file_size)} ({limit}): "
                "refusing a possible zip bomb.",
                fix,
            )
    if total > _DOCX_MAX_INFLATED:
        raise _refuse(
            path,
            f"its {len(members):,} parts would inflate to {_size(total)} "
            f"(limit {_size(_DOCX_MAX_INFLATED)}): refusing a possible zip bomb.",
            fix,
        )


def pdf_texts(path: Path, reader: Any) -> list[str]:
    """Each page's text, within :data:`_PDF_MAX_PAGES` pages and :data:`_PDF_MAX_TEXT_CHARS`
    (checked as pages are read: a PDF's streams inflate one at a time, not all up front)."""
    count = len(reader.pages)
    if count > _PDF_MAX_PAGES:
        raise _refuse(
            path,
            f"it has {count:,} pages (limit {_PDF_MAX_PAGES:,}).",
            "Split it into smaller PDFs and add those.",
        )
    texts: list[str] = []
    total = 0
    for page in reader.pages:
        texts.append(page.extract_text() or "")
        total += len(texts[-1])
        if total > _PDF_MAX_TEXT_CHARS:
            raise _refuse(
                path,
                f"its text passes {_PDF_MAX_TEXT_CHARS // 1_000_000} million characters by page "
                f"{len(texts):,}: refusing a possible decompression bomb.",
                "Split it into smaller PDFs and add those.",
            )
    return texts


def _refuse(path: Path, problem: str, fix: str) -> IngestError:
    return IngestError(f"Cannot load “{path}”: {problem} {fix}")

"""Documents added through the chat: checked, copied into the index's uploads folder, indexed.

The copy is what gets indexed (the browser's temporary file disappears), so removing an
uploaded document deletes its copy too; otherwise re-indexing the folder would bring it back.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import AssistantError
from assistant.index import IndexReport, index_paths, origin_folder
from assistant.ingest.loaders import check_supported
from assistant.store import StoreLocation


@dataclass(frozen=True)
class UploadResult:
    """What happened to one uploaded file; ``message`` is plain text, safe to show."""

    name: str
    ok: bool
    message: str
    report: IndexReport | None = None


def uploads_folder(location: StoreLocation) -> Path:
    """Where uploaded documents are kept: beside the index they were added to."""
    return location.index_dir / "uploads"


def add_uploads(
    files: Sequence[Path],
    *,
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    max_mb: int,
    on_file: Callable[[int, str], None] = lambda number, name: None,
    lock_timeout_s: float | None = None,
) -> list[UploadResult]:
    """Check, copy and index each file; one file's failure never stops the others.

    ``on_file(i, name)`` is called before file ``i`` is indexed (for progress).
    """
    folder = uploads_folder(location)
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for number, path in enumerate(map(Path, files)):
        on_file(number, path.name)
        results.append(_add_one(path, folder, location, embeddings, max_mb, lock_timeout_s))
    return results


def forget_upload(location: StoreLocation, key: str) -> None:
    """Delete the kept copy of an uploaded document (``key`` as ``assistant sources`` gives
    it: the folder's name in the index, ``/``, the file's name); documents indexed from
    elsewhere are left alone."""
    folder = uploads_folder(location).resolve()
    if Path(key).is_absolute():  # an index built before folders had names
        copy = Path(key)
    else:
        origin, _, name = key.partition("/")
        known = origin_folder(location, origin)
        if known is None or known.resolve() != folder:
            return
        copy = folder / name
    if copy.parent == folder and copy.is_file():
        copy.unlink()


def _add_one(
    path: Path,
    folder: Path,
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    max_mb: int,
    lock_timeout_s: float | None,
) -> UploadResult:
    try:
        check_supported(path)
    except AssistantError as exc:
        return UploadResult(path.name, False, _plain(str(exc), path))
    if path.stat().st_size > max_mb * 1024 * 1024:
        return UploadResult(
            path.name, False, f"larger than the {max_mb} MB limit (ASSISTANT_MAX_UPLOAD_MB)."
        )
    target = folder / path.name
    shutil.copyfile(path, target)
    try:
        report = index_paths(
            [target],
            location=location,
            embeddings=embeddings,
            progress=False,
            lock_timeout_s=lock_timeout_s,
        )
    except AssistantError as exc:
        return UploadResult(path.name, False, _plain(str(exc), target))
    if report.failed:
        target.unlink(missing_ok=True)
        reasons = " ".join(_plain(f["error"], target) for f in report.failed)
        return UploadResult(path.name, False, reasons, report)
    return UploadResult(
        path.name,
        True,
        f"{report.added} passages added, {report.updated} updated, "
        f"{report.skipped} unchanged, {report.deleted} removed.",
        report,
    )


def _plain(message: str, path: Path) -> str:
    """The message with the file's full path (a temporary or internal folder) as its name."""
    return message.replace(str(path), path.name)

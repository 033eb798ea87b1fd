"""Documents added through the chat: checked, copied into the index's uploads folder, indexed.

The copy is what gets indexed (the browser's temporary file disappears), so removing an
uploaded document deletes its copy too; otherwise re-indexing the folder would bring it back.
A file with the name of an earlier, different upload is kept under a new name ("notes (2).txt"),
never over it: the earlier one may be someone else's, and both stay answerable.
"""

from __future__ import annotations

import filecmp
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
    try:
        target, renamed, created = _keep(path, folder)
    except OSError as exc:
        return UploadResult(path.name, False, f"cannot be kept: {exc.strerror or exc}.")
    note = (
        f"Kept as “{target.name}”: a different file named “{path.name}” was uploaded before "
        "(remove that one if this replaces it). "
        if renamed
        else ""
    )
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
        if created:  # an earlier upload's copy (the same bytes) stays with its passages
            target.unlink(missing_ok=True)
        reasons = " ".join(_plain(f["error"], target) for f in report.failed)
        return UploadResult(path.name, False, reasons, report)
    warnings = "".join(f" Note: {_plain(w['warning'], target)}" for w in report.warnings)
    return UploadResult(
        path.name,
        True,
        f"{note}{report.added} passages added, {report.updated} updated, "
        f"{report.skipped} unchanged, {report.deleted} removed.{warnings}",
        report,
    )


def _keep(path: Path, folder: Path) -> tuple[Path, bool, bool]:
    """Copy ``path`` into ``folder`` under its name, or a free numbered one if a different
    file has it; return the copy, whether it was renamed and whether it is new. The same
    bytes uploaded again reuse the earlier copy (indexing it again changes nothing)."""
    stem, suffix = Path(path.name).stem, Path(path.name).suffix
    for n in range(1, 10_000):
        target = folder / (path.name if n == 1 else f"{stem} ({n}){suffix}")
        try:
            # "x": created only if absent, so two uploads at once cannot take the same name.
            out = open(target, "xb")  # noqa: SIM115 - closed just below
        except FileExistsError:
            if filecmp.cmp(path, target, shallow=False):
                return target, n > 1, False
            continue
        try:
            with out, open(path, "rb") as source:
                shutil.copyfileobj(source, out)
        except OSError:
            target.unlink(missing_ok=True)  # no half copy left to be indexed later
            raise
        return target, n > 1, True
    raise FileExistsError(f"too many uploads named {path.name}")


def _plain(message: str, path: Path) -> str:
    """The message with the file's full path (a temporary or internal folder) as its name."""
    return message.replace(str(path), path.name)

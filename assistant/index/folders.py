"""Stable names for the folders an index was built from (``origins.json``).

A folder is known by a name (``origin``; at first the folder's own name), and the index keeps
which path each name was last indexed from: a folder moved or renamed, and indexed at its new
place, takes over its old name (its old path is gone and it holds the same files), so nothing
is embedded again and nothing is left behind twice.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

from langchain_core.vectorstores import VectorStore

from assistant.ingest.passages import SourceFile, printable
from assistant.store import StoreLocation, values_where_in

log = logging.getLogger(__name__)

#: Which path each folder name was last indexed from, beside the records.
_ORIGINS = "origins.json"


def assign_origins(
    location: StoreLocation, store: VectorStore, files: list[SourceFile], paths: list[Path]
) -> tuple[list[SourceFile], dict[str, str]]:
    """Give each file the stable name of its folder (see the module's docstring); return
    the files and the names by resolved folder path."""
    registry = read_origins(location)
    folders = {f.folder for f in files} | {str(p.resolve()) for p in paths if p.is_dir()}
    names: dict[str, str] = {}
    for folder in sorted(folders):
        sources = {f.source for f in files if f.folder == folder}
        names[folder] = _origin_for(folder, sources, registry, store)
    write_origins(location, registry)
    return [replace(f, origin=names[f.folder]) for f in files], names


def _origin_for(
    folder: str, sources: set[str], registry: dict[str, str], store: VectorStore
) -> str:
    for name, path in registry.items():
        if path == folder:
            return name
    # A folder indexed before whose path is gone, holding (mostly) the same files: moved.
    best, best_overlap = None, 0
    for name, path in sorted(registry.items()):
        if Path(path).is_dir():
            continue
        known = values_where_in(store, "origin", [name], "source")
        overlap = len(known & sources)
        if overlap and overlap * 2 >= len(known) and overlap > best_overlap:
            best, best_overlap = name, overlap
    if best is not None:
        log.info("%s was indexed as %r from %s; it moved", folder, best, registry[best])
        registry[best] = folder
        return best
    return new_origin(folder, registry)


def new_origin(folder: str, registry: dict[str, str]) -> str:
    """A name for a folder not indexed before: its own, numbered if already taken."""
    base = printable(Path(folder).name).replace("/", "_").replace("\\", "_") or "folder"
    name, n = base, 2
    while name in registry:
        name, n = f"{base}-{n}", n + 1
    registry[name] = folder
    return name


def read_origins(location: StoreLocation) -> dict[str, str]:
    """The index's folder names and the path each was last indexed from."""
    path = location.index_dir / _ORIGINS
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s); folders will be named again", path, exc)
        return {}
    return {str(k): str(v) for k, v in dict(data.get("folders", {})).items()}


def origin_folder(location: StoreLocation, origin: str) -> Path | None:
    """The folder last indexed under the name ``origin``, if known."""
    path = read_origins(location).get(origin)
    return Path(path) if path else None


def write_origins(location: StoreLocation, registry: dict[str, str]) -> None:
    path = location.index_dir / _ORIGINS
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"folders": registry}, indent=2, sort_keys=True))
    tmp.replace(path)

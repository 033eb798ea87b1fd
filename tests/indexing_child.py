"""An indexing run that stops at a known point, to be killed there (``kill -9``) by a test.

Run as ``python -m tests.indexing_child FOLDER READY BATCH_SIZE BATCHES POINT`` from the
repository, with the settings in ``ASSISTANT_*`` as for ``assistant index``. It indexes FOLDER
like ``assistant index`` does (same settings, same store, same records), ``BATCH_SIZE``
passages per batch, and freezes once BATCHES batches are complete, at POINT:

* ``between-batches``: the next batch is being embedded; store and records both hold
  BATCHES batches.
* ``store-ahead``: the next batch is written to the store but not yet to the records (the
  indexing API writes the store first); the store holds one batch more than the records.

Frozen, it writes READY (JSON: the point, the batches and passages written) and sleeps until
it is killed. Nothing is faked: the real model embeds, the real Chroma and record manager
write; the hook only waits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

POINTS = ("between-batches", "store-ahead")


def main(folder: Path, ready: Path, batch_size: int, batches: int, point: str) -> None:
    from langchain_classic.indexes import SQLRecordManager

    from assistant.assemble import make_embeddings, store_location
    from assistant.config import Settings
    from assistant.embeddings import SentenceEmbeddings
    from assistant.index import index_paths

    if point not in POINTS:
        raise SystemExit(f"point must be one of {POINTS}, not {point!r}")
    calls = {"embed": 0, "records": 0}

    def freeze(store_batches: int) -> None:
        state = {
            "point": point,
            "store_batches": store_batches,
            "recorded_batches": batches,
            "batch_size": batch_size,
        }
        partial = ready.with_suffix(".partial")
        partial.write_text(json.dumps(state))
        os.replace(partial, ready)  # the test never reads a half-written file
        while True:
            time.sleep(60)

    embed_documents = SentenceEmbeddings.embed_documents
    update = SQLRecordManager.update

    def embed_then_maybe_freeze(self: Any, texts: list[str]) -> Any:
        # Chroma embeds each batch it is given in one call, before writing it.
        calls["embed"] += 1
        if point == "between-batches" and calls["embed"] == batches + 1:
            freeze(store_batches=batches)
        return embed_documents(self, texts)

    def record_then_maybe_freeze(self: Any, keys: Any, *args: Any, **kwargs: Any) -> Any:
        # The update that records a written batch names its groups (files); a refresh of
        # skipped passages does not.
        if kwargs.get("group_ids") is not None:
            calls["records"] += 1
            if point == "store-ahead" and calls["records"] == batches + 1:
                freeze(store_batches=batches + 1)
        return update(self, keys, *args, **kwargs)

    SentenceEmbeddings.embed_documents = embed_then_maybe_freeze  # type: ignore[method-assign]
    SQLRecordManager.update = record_then_maybe_freeze  # type: ignore[method-assign]

    settings = Settings()
    index_paths(
        [folder],
        location=store_location(settings),
        embeddings=make_embeddings(settings),
        progress=False,
        batch_size=batch_size,
    )
    raise SystemExit(f"indexing finished without reaching batch {batches + 1} at {point}")


if __name__ == "__main__":
    folder_arg, ready_arg, size_arg, batches_arg, point_arg = sys.argv[1:]
    main(Path(folder_arg), Path(ready_arg), int(size_arg), int(batches_arg), point_arg)

"""What the index reads of a passage: its text, after the context it stands in.

A passage is quoted verbatim, and alone it often does not say what it is about: an API
entry's description ("pop(key[, default]) — If key is in the dictionary, remove it…") never
names ``dict``; a paragraph under the heading "search() vs. match()" does not repeat it.
So what is embedded, and what BM25 counts the terms of, is the passage's *context* — its
document's title, its section and, for an API entry, the entry's qualified name
(``metadata["entry"]``, see :mod:`assistant.ingest.html`) — followed by its text. The stored
text, what answers quote, stays the page's.

A passage's id is a hash of this text too (:mod:`assistant.index.identity`), and the index's
signature of what decides the passages applies :func:`indexed_text` to a probe
(:func:`assistant.index.fingerprints.passage_signature`): changing the recipe re-reads and
re-embeds every passage once, rather than mixing vectors of two recipes in one index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The metadata that places a passage, outermost first.
CONTEXT_KEYS = ("title", "section", "entry")


def passage_context(metadata: Mapping[str, Any]) -> str:
    """The passage's title, section and entry, one a line (each once, empty ones left out)."""
    parts: list[str] = []
    for key in CONTEXT_KEYS:
        value = " ".join(str(metadata.get(key) or "").split())
        if value and value not in parts:
            parts.append(value)
    return "\n".join(parts)


def indexed_text(text: str, metadata: Mapping[str, Any]) -> str:
    """What is embedded for a passage: its context, a blank line, then its text."""
    context = passage_context(metadata)
    return f"{context}\n\n{text}" if context else text

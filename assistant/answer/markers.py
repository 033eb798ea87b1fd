"""The ``[n]`` citation markers in answer text: the one parser every reader of answers uses.

An answer is a run of sentences, each followed by the markers of the passages it cites:
``"Plan T links the pressures. [1] It was drafted in May. [1][2]"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: One marker; group 1 is the passage number.
MARKER = re.compile(r"\[(\d+)\]")
_MARKERS = r"(?:\[\d+\]\s*)+"
_CITED_SENTENCE = re.compile(rf"\s*(.+?)\s*({_MARKERS})(?=\S|$)", re.DOTALL)
# Markers closing a sentence, optionally followed by its full stop: "It failed [1]."
_TRAILING = re.compile(rf"\s*({_MARKERS})[.!?]?\s*$")
# "It failed. [1]" → "It failed [1]." so that the markers stay with their sentence.
_MARKERS_AFTER_STOP = re.compile(rf"([.!?])\s*({_MARKERS})")


@dataclass(frozen=True)
class CitedSentence:
    """A sentence of an answer, the passage numbers it cites, and its text with markers."""

    sentence: str
    numbers: list[int]
    marked: str


def numbers_in(text: str) -> list[int]:
    """The passage numbers of every marker in ``text``, in order."""
    return [int(n) for n in MARKER.findall(text)]


def cited_sentences(answer: str) -> list[CitedSentence]:
    """Split an answer into its sentences and their markers; trailing uncited text gets ``[]``."""
    pieces: list[CitedSentence] = []
    position = 0
    for match in _CITED_SENTENCE.finditer(answer):
        pieces.append(
            CitedSentence(match.group(1), numbers_in(match.group(2)), match.group().strip())
        )
        position = match.end()
    rest = answer[position:].strip()
    if rest:
        pieces.append(CitedSentence(rest, [], rest))
    return pieces


def strip_markers(answer: str) -> str:
    """The answer without its markers, single-spaced."""
    return " ".join(MARKER.sub(" ", answer).split())


def markers_after_stops(text: str) -> str:
    """Move markers written after a sentence's full stop in front of it (LLMs do both)."""
    return _MARKERS_AFTER_STOP.sub(lambda m: f" {m.group(2).strip()}{m.group(1)} ", text)


def trailing_markers(sentence: str) -> tuple[str, list[int]] | None:
    """Split one sentence into its claim and the numbers of its closing markers; None when
    it does not end with a marker."""
    found = _TRAILING.search(sentence)
    if not found:
        return None
    return sentence[: found.start()].strip(), numbers_in(found.group(1))

"""Elliptical follow-ups completed from the previous question: "And Plan B?", "What about
al-Maliki?" (a phrase of the same kind swapped in), "Until when?" (a new wh-word)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.answer.parse import SentenceParse
from assistant.followup.pointers import pointers
from assistant.followup.referents import (
    ENTITY_KINDS,
    WH,
    Turn,
    answer_text,
    head_of,
    kind_of,
    parse_texts,
    same_noun,
)

_DO = frozenset("do does did will would can could should".split())
_ELLIPSIS = re.compile(
    r"^\s*(?:and|but|also|so)?\s*(?:what|how)\s+about\s+(?P<what>.+?)\s*\??\s*$"
    r"|^\s*(?:and|but)\s+(?P<and>.+?)\s*\??\s*$",
    re.IGNORECASE,
)


def complete_ellipsis(question: str, parse: SentenceParse, history: Sequence[Turn]) -> str | None:
    """The previous question with the fragment's phrase or wh-word in it, or None when the
    follow-up is not a fragment."""
    if any(p in ("VERB", "AUX") for p in parse.pos):
        return None
    previous = history[-1].question.strip()
    match = _ELLIPSIS.match(question)
    if match is None:
        if any(w.lower() in WH for w in parse.words):
            return _ask_again(question, history[-1])
        return None
    phrase = (match.group("what") or match.group("and")).strip()
    if phrase.lower() in ("the latter", "the former"):
        replacements = pointers(parse, history)
        if not replacements:
            return None
        start, end, text = replacements[0]
        phrase = text
    return _swap(previous, phrase)


def _ask_again(question: str, previous_turn: Turn) -> str | None:
    """ "Until when?" after "What did the militias postpone?" → "Until when did the militias
    postpone the date of targeting …?": the fragment in place of the previous question's
    wh-phrase, and the previous answer in place of what that asked for."""
    previous = previous_turn.question.strip()
    (prev,) = parse_texts([previous])
    wh = next((i for i, w in enumerate(prev.words) if w.lower() in WH), None)
    if wh is None:
        return None
    end = wh + 1
    while end < len(prev) and prev.deps[end - 1] == "det" and prev.pos[end] == "NOUN":
        end += 1  # "which movement"
    rest = prev.text[prev.char_span(end, end + 1)[0] :] if end < len(prev) else "?"
    fragment = question.strip().rstrip("?").strip()
    answer = answer_text(previous_turn.answer)
    words = [w.lower() for w in prev.words]
    asked_object = words[wh] == "what" and wh + 1 < len(words) and words[wh + 1] in _DO
    if asked_object and answer and len(answer.split()) <= 12:
        rest = rest.rstrip(" ?") + f" {answer}?"
    return f"{fragment} {rest}".strip()


def _swap(previous: str, phrase: str) -> str | None:
    """``previous`` with ``phrase`` in place of its mention of the same kind."""
    (prev,) = parse_texts([previous])
    (new,) = parse_texts([phrase])
    new_head = head_of(new, 0, len(new)) if len(new) else 0
    new_kind = kind_of(new, 0, len(new))
    best: tuple[float, int, int] | None = None
    spans = [(s, e) for s, e, label in prev.entities if label in ENTITY_KINDS]
    spans += [(s, e) for s, e in prev.chunks if prev.words[s].lower() not in WH]
    for start, end in spans:
        head = head_of(prev, start, end)
        if prev.pos[head] == "PRON":
            continue
        score = 0.0
        if same_noun(prev.words[head].lower(), new.words[new_head].lower() if len(new) else ""):
            score += 2.0
        if kind_of(prev, start, end) == new_kind:
            score += 1.0
        score += 0.1 * (end - start) / max(len(prev), 1)
        if best is None or score > best[0]:
            best = (score, start, end)
    if best is None or best[0] < 1.0:
        return None
    _, start, end = best
    begin, stop = prev.char_span(start, end)
    return previous[:begin] + phrase + previous[stop:]

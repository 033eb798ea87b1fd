"""Follow-up questions made to stand alone, offline: pronouns, "that X", ellipsis.

"Who commented on it?" means nothing to a search index. From the conversation so far (the
earlier questions and the assistant's own answers) the question is written out in full,
keeping its own wh-word and verb: "Who commented on what Muqtada al-Sadr demanded?".
spaCy's parse gives the candidate referents (:mod:`.referents`: entities, noun phrases, the
answers, the events asked about) and the pointers in the follow-up (:mod:`.pointers`); a
pointer goes to the candidate that fits it (a person for "he", a plural or a group for
"they", a thing or an event for "it", a noun phrase with the same head for "that group")
and, among those, to the most salient: the most recent turn, the answer itself, a subject
before an object, a name before a description, a topic that runs through the turns.
Earlier follow-ups are resolved first, so a chain of turns keeps its subject.

Ellipsis (:mod:`.ellipsis`): "And Plan B?" / "What about al-Maliki?" put the new phrase in
place of the one of its kind in the previous question; "Until when?" / "Why?" ask the
previous question again with the new wh-word. A question with no pointer and no ellipsis
is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.followup.ellipsis import complete_ellipsis
from assistant.followup.pointers import pointers
from assistant.followup.referents import ResolvedTurn, Turn, parse_texts

__all__ = ["MAX_TURNS", "Turn", "resolve"]

#: Turns looked back at; older ones rarely hold what a pointer means.
MAX_TURNS = 4
_PAIRED = re.compile(r"\bthe\s+(?:latter|former)\b", re.IGNORECASE)


def resolve(question: str, history: Sequence[Turn]) -> str:
    """Return ``question`` made to stand alone, given the turns before it (oldest first).

    Pointers ("he", "it", "they", "that group", "the latter", "so") become what they point
    at; an elliptical follow-up ("And Plan B?", "Until when?") is completed from the
    previous question. The follow-up's own wh-word and verb are kept. Without history, or
    with nothing to resolve, the question comes back unchanged.
    """
    turns = [t for t in history if t.question.strip()][-MAX_TURNS:]
    if not turns:
        return question
    resolved: list[Turn] = []
    for turn in turns:  # earlier follow-ups first, so a chain keeps its subject
        paired = bool(_PAIRED.search(turn.question))
        resolved.append(ResolvedTurn(_resolve_one(turn.question, resolved), turn.answer, paired))
    return _resolve_one(question, resolved)


def _resolve_one(question: str, history: Sequence[Turn]) -> str:
    if not history:
        return question
    (parsed,) = parse_texts([question])
    completed = complete_ellipsis(question, parsed, history)
    if completed is not None:
        return completed
    replacements = pointers(parsed, history)
    if not replacements:
        return question
    out, last = [], 0
    for start, end, text in sorted(replacements):
        out.append(question[last:start])
        out.append(text)
        last = end
    out.append(question[last:])
    return "".join(out)

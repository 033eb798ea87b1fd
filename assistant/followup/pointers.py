"""The pointers in a follow-up ("he", "it", "their", "that group", "the latter", "so",
"there"), each replaced by the most salient referent of its kind."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.answer.parse import SentenceParse
from assistant.followup.referents import GROUP_NOUNS, Mention, Turn, mentions, same_noun

# Reflexives ("reproduce themselves") point inside their own sentence: left alone.
_PERSON_PRONOUNS = frozenset("he him his she her hers".split())
_PLURAL_PRONOUNS = frozenset("they them their theirs".split())
_THING_PRONOUNS = frozenset("it its".split())
_DEMONSTRATIVES = frozenset("this that these those".split())
_POSSESSIVES = frozenset("his her its their".split())
_DO_FORMS = frozenset("do does did doing done".split())
_DONE = frozenset("that it this so".split())
_SAY_VERBS = frozenset(
    "say says said think thinks thought believe believes claim claims argue argues".split()
)


def pointers(parse: SentenceParse, history: Sequence[Turn]) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for each pointer in the follow-up that can be resolved."""
    candidates: list[Mention] | None = None
    found: list[tuple[int, int, str]] = []
    words = [w.lower() for w in parse.words]
    skip: set[int] = set()
    for i, word in enumerate(words):
        if i in skip:
            continue
        want = None
        span = (i, i + 1)
        if (
            word in _DONE
            and i > 0
            and words[i - 1] in _DO_FORMS
            and parse.deps[i - 1] != "aux"  # "did that group flee": "did" only helps
            and _noun_after(parse, i) is None
        ):
            span = (i - 1, i + 1)  # "do that" / "did so": the action an answer named
            want = "action"
        elif word in ("latter", "former") and i > 0 and words[i - 1] == "the":
            span = (i - 1, i + 1)
            want = word
        elif word == "there" and parse.deps[i] == "advmod":
            want = "place"  # "What happened there?"; not "Is there …?"
        elif parse.pos[i] != "PRON" and word not in _DEMONSTRATIVES and word != "so":
            continue
        elif word in _PERSON_PRONOUNS:
            want = "person"
        elif word in _PLURAL_PRONOUNS:
            want = "plural"
        elif word in _THING_PRONOUNS:
            want = "thing"
        elif word in _DEMONSTRATIVES:
            noun = _noun_after(parse, i)
            if noun is not None:
                span = (i, noun + 1)
                want = "noun:" + words[noun]
                skip.update(range(i, noun + 1))
            elif parse.pos[i] == "PRON":
                want = "clause"
        elif word == "so" and i > 0 and words[parse.heads[i]] in _SAY_VERBS:
            want = "proposition"
        if want is None:
            continue
        if candidates is None:
            candidates = mentions(history)
        text = _pick(want, candidates)
        if text is None:
            continue
        start, end = parse.char_span(*span)
        if word in _POSSESSIVES and parse.tags[i] == "PRP$":
            text = _possessive(text)
        elif want == "place":
            text = f"in {text}"
        found.append((start, end, text))
    return found


def _noun_after(parse: SentenceParse, i: int) -> int | None:
    """The noun a demonstrative determines ("that [armed] group"), or None: the parse of a
    short question often gets the head wrong, so the next noun is taken instead."""
    for j in range(i + 1, min(i + 4, len(parse))):
        if parse.pos[j] in ("NOUN", "PROPN"):
            return j
        if parse.pos[j] not in ("ADJ", "ADV"):
            return None
    return None


def _pick(want: str, mentions: Sequence[Mention]) -> str | None:
    """The most salient mention that fits ``want``."""
    if want in ("latter", "former"):
        return _latter_or_former(want, mentions)
    if want.startswith("noun:"):
        noun = want.removeprefix("noun:")
        same = [m for m in mentions if same_noun(m.head, noun)]
        if same:
            return max(same, key=lambda m: m.salience).text
        if noun.rstrip("s") not in GROUP_NOUNS:
            return None  # "that position" names what it means well enough by itself
        want = "group"
    fits = [m for m in mentions if _fits(want, m)]
    return max(fits, key=lambda m: m.salience).text if fits else None


def _fits(want: str, m: Mention) -> bool:
    match want:
        case "person":
            return m.kind == "person" and not m.plural
        case "plural":
            return m.plural and m.kind in ("group", "thing", "person") or m.kind == "group"
        case "group":
            return m.kind == "group" or (m.plural and m.kind in ("person", "thing"))
        case "thing":
            return not m.plural and m.kind in ("thing", "group", "place", "event", "clause")
        case "clause":
            return m.kind in ("clause", "event", "thing") and not m.plural
        case "action":
            return m.kind == "action"
        case "place":
            return m.kind == "place"
        case "proposition":
            return m.kind in ("clause", "event")
        case _:
            return False


def _latter_or_former(want: str, mentions: Sequence[Mention]) -> str | None:
    """ "the latter" / "the former": the last / the first-but-last of the most recent two
    named mentions of one kind (mentions come newest turn first, in text order within)."""
    named = [m for m in mentions if m.kind in ("person", "group", "place") and not m.paired]
    by_turn: dict[int, list[Mention]] = {}
    for m in named:
        by_turn.setdefault(m.turn, []).append(m)
    for _, group in sorted(by_turn.items(), reverse=True):
        ordered = sorted(group, key=lambda m: m.order)
        for kind in ("person", "group", "place"):
            same = _unique([m for m in ordered if m.kind == kind])
            if len(same) >= 2:
                return same[-1].text if want == "latter" else same[-2].text
    return None


def _unique(mentions: list[Mention]) -> list[Mention]:
    seen: set[str] = set()
    out = []
    for m in mentions:
        key = m.text.lower()
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def _possessive(text: str) -> str:
    return f"{text}'" if text.endswith("s") else f"{text}'s"

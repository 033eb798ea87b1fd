"""The referents a conversation offers a follow-up's pointers, and how salient each is.

Each earlier question and answer is parsed (spaCy, :func:`assistant.answer.parse.
parse_sentences`); its named entities, noun phrases and possessors, the answer as a whole
and the event a question asked about ("what happened in Basra") become :class:`Mention` s of
a kind (person, group, place, thing, event, clause) with a salience.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.answer.markers import strip_markers
from assistant.answer.parse import SentenceParse, parse_sentences
from assistant.answer.types import REFUSAL

WH = frozenset("what who whom whose which when where why how".split())
# Nouns that name people ("the leader of …", "a researcher"): a "he" may point at them.
PERSON_NOUNS = frozenset(
    """man woman person people leader leaders researcher researchers writer journalist
    commander minister secretary-general secretary president official officials analyst
    author spokesman spokesperson member members head chief general cleric expert""".split()
)
# Nouns that name a group: "that group" / "they" may point at a plural or an organisation.
GROUP_NOUNS = frozenset(
    "group groups movement organisation organization party parties force forces militia".split()
)
ENTITY_KINDS = {
    "PERSON": "person",
    "ORG": "group",
    "NORP": "group",
    "GPE": "place",
    "LOC": "place",
    "FAC": "place",
    "EVENT": "thing",
    "LAW": "thing",
    "WORK_OF_ART": "thing",
    "PRODUCT": "thing",
}


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: the question asked and the assistant's answer ("" if none)."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class ResolvedTurn(Turn):
    """A turn with its question resolved; ``paired``: it said "the latter" / "the former"."""

    paired: bool = False


@dataclass(frozen=True)
class Mention:
    """A candidate referent: what it says, its kind and how salient it is."""

    text: str
    kind: str  # person, group, place, thing, clause
    plural: bool
    head: str  # the head word, lower case
    salience: float
    turn: int  # 0 for the oldest turn looked at
    order: float  # where it stands within its turn: the question, then the answer
    #: Its turn said "the latter" / "the former": the pair those name is in an earlier turn.
    paired: bool = False


def parse_texts(texts: Sequence[str]) -> list[SentenceParse]:
    """Parse each text as one sentence; a conversation's texts are parsed once, not again
    for every later turn."""
    missing = list(dict.fromkeys(t for t in texts if t not in _parsed))
    if missing:
        if len(_parsed) + len(missing) > _CACHE_SIZE:
            _parsed.clear()
        _parsed.update(zip(missing, parse_sentences(missing), strict=True))
    # (Another thread may clear the cache meanwhile: a text gone is parsed again.)
    found = [_parsed.get(t) for t in texts]
    return [
        p if p is not None else parse_sentences([t])[0] for p, t in zip(found, texts, strict=True)
    ]


_CACHE_SIZE = 2048
_parsed: dict[str, SentenceParse] = {}


def mentions(history: Sequence[Turn]) -> list[Mention]:
    """Every candidate referent in the turns, scored by salience.

    Recency counts most (3 per turn back), then what a mention is: the answer itself (what
    the previous question asked about), the event a question asked about, the subject a
    "Who is X?" question defines, a subject before an object, a name before a description;
    and a topic that runs through several turns gains for each.
    """
    texts: list[tuple[int, bool, str]] = []
    paired = {n for n, turn in enumerate(history) if isinstance(turn, ResolvedTurn) and turn.paired}
    for number, turn in enumerate(history):
        texts.append((number, False, turn.question))
        answer = answer_text(turn.answer)
        if answer:
            texts.append((number, True, answer))
    parses = parse_texts([t for _, _, t in texts])
    found: list[tuple[int, bool, tuple[str, str, bool, str, float, float]]] = []
    asked = ("", "")
    for (number, is_answer, _), parse in zip(texts, parses, strict=True):
        if not is_answer:
            asked = _asked(parse)
        found += [(number, is_answer, c) for c in _candidates(parse, is_answer, asked)]
    turns_of: dict[str, set[int]] = {}
    for number, _, (_, kind, _, head, _, _) in found:
        if head and kind != "clause":
            turns_of.setdefault(head, set()).add(number)
    newest = len(history) - 1
    out = []
    for number, is_answer, (text, kind, plural, head, weight, position) in found:
        topic = len(turns_of.get(head, ())) - 1 if head else 0
        salience = -3.0 * (newest - number) + weight + 1.0 * topic + 0.05 * position
        order = position + (1.0 if is_answer else 0.0)
        out.append(Mention(text, kind, plural, head, salience, number, order, number in paired))
    return out


def answer_text(answer: str) -> str:
    text = strip_markers(answer or "").strip()
    return "" if not text or text == REFUSAL else text


def _asked(parse: SentenceParse) -> tuple[str, str]:
    """A question's wh-word and the noun it asks about ("which movement" → movement)."""
    words = [w.lower() for w in parse.words]
    wh = next((w for w in words[:3] if w in WH), "")
    focus = ""
    if wh in ("what", "which"):
        at = words.index(wh)
        for j in range(at + 1, min(at + 4, len(words))):
            if parse.pos[j] in ("NOUN", "PROPN"):
                focus = words[j]
                break
            if parse.pos[j] != "ADJ":
                break
    return wh, focus


def _fits_question(asked: tuple[str, str], kind: str, plural: bool = False) -> bool:
    """Whether an answer of ``kind`` is of the type its question asked for: an answer that
    is not (the answerer slipped) makes a poor referent."""
    wh, focus = asked
    if wh in ("who", "whom", "whose"):
        return kind in ("person", "group") or (plural and kind == "thing")
    if wh in ("what", "which"):
        return kind != "person" or focus in PERSON_NOUNS
    if wh == "when":
        return kind in ("time", "clause")  # "after the fall of …" is a clause to the parse
    if wh == "where":
        return kind in ("place", "clause")
    return True


def _candidates(
    parse: SentenceParse, is_answer: bool, asked: tuple[str, str] = ("", "")
) -> list[tuple[str, str, bool, str, float, float]]:
    """(text, kind, plural, head, weight, position) of the referents a text offers; for an
    answer, ``asked`` is its question's wh-word and the noun that asks about."""
    n = len(parse)
    out: list[tuple[str, str, bool, str, float, float]] = []
    if not n:
        return out
    covered: set[int] = set()
    root = _root(parse)
    if is_answer:
        if parse.pos[root] in ("NOUN", "PROPN"):
            kind = kind_of(parse, root, root + 1, other="time")
            if kind == "thing" and parse.words[root][:1].isupper() and asked[0] == "who":
                kind = "person"  # "Hammadi": a name the entity tagger missed
        else:
            kind = "clause"
        if not _fits_question(asked, kind, parse.tags[root] in ("NNS", "NNPS")):
            # "Who leads it?" answered with a verb phrase: the answerer slipped, and what
            # the phrase mentions is no safer a referent than the phrase.
            return out
        if kind != "clause" and n <= 12:
            # The answer is a noun phrase: the thing the previous question asked about.
            plural = parse.tags[root] in ("NNS", "NNPS")
            whole = parse.text.rstrip(" .;,")
            out.append((whole, kind, plural, parse.words[root].lower(), 6.0, 0.0))
    defined = _defined(parse) if not is_answer else None
    for start, end, label in parse.entities:
        if label not in ENTITY_KINDS:
            continue
        kind = ENTITY_KINDS[label]
        head = head_of(parse, start, end)
        if parse.words[start].lower() in WH:
            continue
        modifier = parse.deps[head] in ("amod", "compound") and not start <= parse.heads[head] < end
        if modifier and kind != "person":
            continue  # "Sadrist" in "the Sadrist movement": the noun phrase stands for it
        covered.update(range(start, end))
        plural = parse.tags[head] in ("NNS", "NNPS") and kind != "person"
        weight = 2.0 + _role(parse, head) + (0.5 if is_answer else 0.0)
        if defined is not None and start <= defined < end:
            weight += 3.0  # "Who is X?": X stays the subject of what follows
        text = _text(parse, start, end)
        out.append((text, kind, plural, parse.words[head].lower(), weight, start / n))
    for start, end in parse.chunks:
        head = end - 1
        if parse.pos[head] == "PRON" or parse.words[start].lower() in WH:
            continue
        if any(i in covered for i in range(start, end)) and parse.pos[head] == "PROPN":
            continue  # the entity already stands for it
        if parse.tags[start] == "PRP$":
            continue  # "his demand": its owner is the pointer to resolve, not a referent
        word = parse.words[head].lower()
        plural = parse.tags[head] in ("NNS", "NNPS")
        kind = kind_of(parse, start, end, other="time")
        if kind == "time":
            continue
        weight = 1.0 + _role(parse, head) + (0.5 if is_answer else 0.0)
        if defined is not None and start <= defined < end:
            weight += 3.0
        out.append((_text(parse, start, end), kind, plural, word, weight, start / n))
    for i, dep in enumerate(parse.deps):
        # A possessor inside a noun phrase ("[the Sadrist movement]'s position").
        if dep == "poss" and parse.pos[i] in ("NOUN", "PROPN") and i not in covered:
            start = parse.left[i]
            word = parse.words[i].lower()
            kind = kind_of(parse, start, i + 1)
            weight = 1.5 + (0.5 if is_answer else 0.0)
            plural = parse.tags[i] in ("NNS", "NNPS")
            out.append((_text(parse, start, i + 1), kind, plural, word, weight, start / n))
    if is_answer and parse.pos[root] in ("VERB", "AUX") and n <= _MAX_EVENT_WORDS:
        # An answer that is a clause or a verb phrase ("disband the loose militias"):
        # "so" / "that" may point at all of it, as a noun phrase ("disbanding …").
        out.append((_as_noun_phrase(parse), "clause", False, "", 4.5, 0.0))
        action = _as_action(parse)
        if action:
            out.append((action, "action", False, "", 4.5, 0.0))
    if is_answer and asked[1]:
        # "Which movement …?" → "… the Sadrist movement's position": the movement is the
        # answer, whatever else the phrase holds.
        out = [
            (t, k, p, h, w + 4.0 if same_noun(h, asked[1]) else w, pos)
            for t, k, p, h, w, pos in out
        ]
    if not is_answer:
        # The event the question asks about: "What happened in Basra?" → "it" may be
        # "what happened in Basra"; "What did al-Sadr demand?" → "what al-Sadr demanded".
        event = _embedded(parse)
        if event:
            out.append((event, "event", False, "", 5.0, 0.0))
    if is_answer and out and out[0][4] >= 6.0:
        # The whole answer stands for itself: a part with the same words is the same thing.
        out = [out[0]] + [c for c in out[1:] if c[0] != out[0][0]]
    return out


#: Longer questions make clumsy referents ("what X says the leaders will do in …").
_MAX_EVENT_WORDS = 12
# Past tenses that do not end in -ed, for "what X did say" → "what X said".
_IRREGULAR = dict(
    pair.split(":")
    for pair in """say:said do:did make:made take:took get:got go:went think:thought see:saw
    know:knew tell:told give:gave find:found lead:led meet:met win:won fight:fought hold:held
    begin:began become:became leave:left bring:brought build:built buy:bought come:came
    feel:felt keep:kept lose:lost mean:meant pay:paid put:put read:read run:ran send:sent
    set:set speak:spoke spend:spent stand:stood teach:taught understand:understood
    write:wrote have:had shake:shook fall:fell sell:sold seek:sought""".split()
)


def _embedded(parse: SentenceParse) -> str | None:
    """A wh-question as the clause it embeds: "What happened in Basra?" → "what happened
    in Basra", "What did al-Sadr demand?" → "what al-Sadr demanded"; None for a question
    that is not one wh-word then a verb ("Who is X?" says nothing happened)."""
    words = [w.lower() for w in parse.words]
    if not 3 <= len(words) <= _MAX_EVENT_WORDS or words[0] != "what" or "?" not in words[-1:]:
        return None
    text = parse.text[: parse.offsets[-1]].rstrip()
    second = words[1]
    if second in ("is", "are", "was", "were") or parse.tags[1] in ("MD",):
        return None
    if second not in ("did", "does", "do"):
        return words[0] + text[len(parse.words[0]) :] if parse.pos[1] == "VERB" else None
    # The verb "did" helps: its head in the parse, else the first bare verb after it (a
    # short question's parse may take "demand" in "What did X demand?" for a noun).
    head = parse.heads[1]
    verb = head if head > 1 and parse.tags[head] in ("VB", "VBP") else None
    if verb is None:
        verb = next(
            (
                i
                for i in range(2, len(words))
                if parse.tags[i] == "VB"
                or (parse.pos[i] in ("VERB", "NOUN") and i == len(words) - 2)
            ),
            None,
        )
    if verb is None:
        return None
    form = _inflect(words[verb], second)
    if parse.words[verb][:1].isupper():
        return None
    start, end = parse.offsets[2], parse.offsets[verb]
    rest = text[parse.offsets[verb] + len(parse.words[verb]) :]
    return f"{words[0]} {text[start:end]}{form}{rest}"


def _inflect(verb: str, auxiliary: str) -> str:
    if auxiliary == "do":
        return verb
    if auxiliary == "does":
        if verb == "have":
            return "has"
        return verb + ("es" if verb.endswith(("s", "sh", "ch", "x", "o")) else "s")
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and len(verb) > 2 and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def _defined(parse: SentenceParse) -> int | None:
    """In "Who is X?" / "What was X?", a token of X; else None."""
    words = [w.lower() for w in parse.words]
    if len(words) < 3 or words[0] not in WH or words[1] not in ("is", "was", "are", "were"):
        return None
    if any(p == "VERB" for p in parse.pos[2:]):
        return None
    return next((i for i in range(2, len(words)) if parse.pos[i] in ("PROPN", "NOUN")), None)


def _as_noun_phrase(parse: SentenceParse) -> str:
    """A verb phrase as a noun phrase: "(to) disband the militias" → "disbanding the
    militias"; any other clause as it is."""
    text = parse.text.rstrip(" .;,")
    first = 1 if parse.words and parse.words[0].lower() == "to" else 0
    if first >= len(parse) or parse.tags[first] != "VB" or parse.deps[first] != "ROOT":
        return text
    verb = parse.words[first]
    begin = parse.offsets[first]
    return _gerund(verb) + text[begin + len(verb) :]


def _as_action(parse: SentenceParse) -> str | None:
    """A verb phrase in its bare form, for "do that": "(to) postpone the operations" →
    "postpone the operations"; None for any other clause."""
    first = 1 if parse.words and parse.words[0].lower() == "to" else 0
    if first >= len(parse) or parse.tags[first] != "VB" or parse.deps[first] != "ROOT":
        return None
    return parse.text[parse.offsets[first] :].rstrip(" .;,")


def _gerund(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")) and len(verb) > 2:
        return verb[:-1] + "ing"
    return verb + "ing"


def _root(parse: SentenceParse) -> int:
    return next((i for i, d in enumerate(parse.deps) if d == "ROOT"), 0)


def head_of(parse: SentenceParse, start: int, end: int) -> int:
    """The token of ``start``..``end`` whose head lies outside it."""
    for i in range(start, end):
        if not start <= parse.heads[i] < end or parse.heads[i] == i:
            return i
    return end - 1


def _role(parse: SentenceParse, head: int) -> float:
    dep = parse.deps[head]
    if dep in ("nsubj", "nsubjpass"):
        return 2.0
    if dep in ("dobj", "attr", "ROOT", "appos", "poss"):
        return 1.0
    return 0.0


def _text(parse: SentenceParse, start: int, end: int) -> str:
    while end - start > 1 and parse.tags[end - 1] == "POS":
        end -= 1  # "Saddam Hussein’s" → "Saddam Hussein"
    begin, stop = parse.char_span(start, end)
    return parse.text[begin:stop]


def same_noun(a: str, b: str) -> bool:
    return bool(a) and (a == b or a.rstrip("s") == b.rstrip("s"))


def kind_of(parse: SentenceParse, start: int, end: int, *, other: str = "thing") -> str:
    """person, group, place or thing (by the entity its head is in, else the head noun);
    ``other`` for dates, times and amounts."""
    if end <= start:
        return "thing"
    head = head_of(parse, start, end)
    for s, e, label in parse.entities:
        if s <= head < e:
            return ENTITY_KINDS.get(label, other)
    word = parse.words[head].lower()
    if word in PERSON_NOUNS:
        return "person"
    return "group" if word in GROUP_NOUNS or word.rstrip("s") in GROUP_NOUNS else "thing"

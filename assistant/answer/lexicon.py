"""Word lists the phrase chooser and the near-miss checks share: general English, not drawn
from any evaluation question.

The stemmer that makes the answerer's terms leaves irregular verbs apart ("began" is not
"begin", "led" is not "lead"), so a question in the present would miss its answer in the
past; :func:`normalize` maps their past forms to the base form's term. The opposites let a
near miss like "arrive" where the passage says "withdrew" be caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from assistant.text import tokenize

# base past participle (the forms the stemmer leaves apart from the base form)
_IRREGULAR = """arise arose arisen; awake awoke awoken; bear bore born; beat beat beaten;
become became become; begin began begun; bend bent bent; bind bound bound; bite bit bitten;
bleed bled bled; blow blew blown; break broke broken; breed bred bred; bring brought brought;
build built built; burn burnt burnt; buy bought bought; catch caught caught; choose chose
chosen; come came come; creep crept crept; deal dealt dealt; dig dug dug; do did done; draw
drew drawn; drink drank drunk; drive drove driven; eat ate eaten; fall fell fallen; feed fed
fed; feel felt felt; fight fought fought; find found found; flee fled fled; fly flew flown;
forbid forbade forbidden; forget forgot forgotten; forgive forgave forgiven; freeze froze
frozen; get got gotten; give gave given; go went gone; grind ground ground; grow grew grown;
hang hung hung; have had had; hear heard heard; hide hid hidden; hold held held; keep kept
kept; know knew known; lay laid laid; lead led led; leave left left; lend lent lent; lie lay
lain; lose lost lost; make made made; mean meant meant; meet met met; pay paid paid; ride rode
ridden; ring rang rung; rise rose risen; run ran run; say said said; see saw seen; seek sought
sought; sell sold sold; send sent sent; shake shook shaken; shine shone shone; shoot shot shot;
show showed shown; shrink shrank shrunk; sing sang sung; sink sank sunk; sit sat sat; sleep
slept slept; slide slid slid; speak spoke spoken; spend spent spent; spin spun spun; spring
sprang sprung; stand stood stood; steal stole stolen; stick stuck stuck; sting stung stung;
strike struck struck; strive strove striven; swear swore sworn; sweep swept swept; swim swam
swum; swing swung swung; take took taken; teach taught taught; tear tore torn; tell told told;
think thought thought; throw threw thrown; understand understood understood; undertake
undertook undertaken; wake woke woken; wear wore worn; weave wove woven; weep wept wept; win
won won; wind wound wound; withdraw withdrew withdrawn; write wrote written; overthrow
overthrew overthrown; overcome overcame overcome; foresee foresaw foreseen"""


def _irregular() -> dict[str, str]:
    table: dict[str, str] = {}
    for entry in _IRREGULAR.split(";"):
        base, *forms = entry.split()
        (stem,) = tokenize(base) or [base]
        for form in forms:
            for term in tokenize(form):
                if term != stem:
                    table.setdefault(term, stem)
    # Past forms that are also common words of their own keep their own meaning.
    for ambiguous in ("found", "left", "ground", "bound", "lay", "wound", "fell", "saw", "lie"):
        for term in tokenize(ambiguous):
            table.pop(term, None)
    return table


IRREGULAR = _irregular()


def normalize(term: str) -> str:
    """A stemmed term, with irregular past forms mapped to their base form's term."""
    return IRREGULAR.get(term, term)


@lru_cache(maxsize=200_000)
def terms_of(word: str) -> tuple[str, ...]:
    """The normalised terms of one word (memoised: the same words recur everywhere)."""
    return tuple(normalize(t) for t in tokenize(word))


# Pairs of opposites; either word of a pair may stand in the question.
_OPPOSITES = """first/last before/after begin/end start/end start/finish early/late
earliest/latest increase/decrease rise/fall more/less most/least largest/smallest
biggest/smallest highest/lowest longest/shortest maximum/minimum major/minor win/lose
victory/defeat accept/reject allow/forbid allow/prohibit include/exclude inside/outside
north/south east/west upper/lower above/below old/new old/young ancient/modern
public/private internal/external import/export arrive/leave arrive/depart arrive/withdraw
enter/exit enter/leave open/close success/failure succeed/fail strong/weak positive/negative
male/female same/different true/false legal/illegal possible/impossible abstract/concrete
agree/disagree support/oppose rich/poor cheap/expensive birth/death born/die buy/sell
hot/cold high/low top/bottom front/back add/remove build/destroy create/destroy
friend/enemy attack/defend give/receive direct/indirect formal/informal natural/artificial
primary/secondary western/eastern northern/southern fewer/more lower/higher smaller/larger
worst/best worse/better""".split()


def _opposites() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for pair in _OPPOSITES:
        left, right = (terms_of(w) for w in pair.split("/"))
        if left and right:
            table.setdefault(left[0], set()).add(right[0])
            table.setdefault(right[0], set()).add(left[0])
    return {k: frozenset(v) for k, v in table.items()}


OPPOSITES = _opposites()


def initialisms(words: Sequence[str]) -> set[str]:
    """The initials of each run of capitalised words ("United States" → "us"), so that a
    question's "US" finds the passage's "United States"."""
    found: set[str] = set()
    run: list[str] = []
    for word in [*words, ""]:
        if word[:1].isupper() and word.isalpha():
            run.append(word[0].lower())
            continue
        if word in ("of", "and") and run:  # "Bank of England" → "be", "boe"
            continue
        for start in range(len(run)):
            for end in range(start + 2, min(len(run), start + 5) + 1):
                found.add("".join(run[start:end]))
        run = []
    return found

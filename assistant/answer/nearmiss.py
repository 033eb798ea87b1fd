"""Near misses: questions about the documents' subject that the documents do not answer.

Such a question shares most of its words with a passage, so the sentence scores alone do not
tell it apart: "When did the American forces arrive in Iraq?" matches a sentence about them
*withdrawing* on December 31. The signals here look for what is off: a name or number of the
question that no retrieved passage mentions, rare words with no match, a negation or an
antonym where the question has the word itself, no span of the type the question asks for
near its words. A logistic model, fitted on the tuning split of SQuAD 2.0
(``benchmarks/answer_tuning.py``), weighs them into the probability that the question is
not answered; above a threshold the answerer refuses.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from assistant.answer.lexicon import OPPOSITES, terms_of
from assistant.answer.parse import SentenceParse
from assistant.answer.question import DERIVED, Question

_NEGATIONS = frozenset({"not", "n't", "never", "no", "none", "nor", "without"})

#: The signals, in the order of :data:`REFUSAL_WEIGHTS`.
SIGNALS = (
    "bias",
    "sentence_score",
    "phrase_score",
    "type_absent",
    "names_missing_passages",
    "names_missing_sentence",
    "weight_missing_passages",
    "weight_missing_sentence",
    "rarest_missing_sentence",
    "negation_mismatch",
    "opposite",
    "typed_question",
    "missing_beside_match",
    "weight_missing_passage",
    "log_terms",
    "phrase_margin",
    "focus_missing",
    "phrase_distance",
    "phrase_tree_distance",
    "rarest_missing_passages",
    "subject_mismatch",
    "typed_last_missing",
)

#: The signals that something the question asks about is absent from, or contradicted by,
#: the passages: their fitted weights may only raise the refusal probability
#: (``benchmarks/answer_tuning.py`` bounds them at zero). Unconstrained, SQuAD 2.0 — whose
#: unanswerable questions were written to overlap their paragraph — teaches the opposite for
#: some (a word missing from the passages hinting at a paraphrased answerable question), which
#: lets the near misses of real users through.
ABSENCE = frozenset(SIGNALS) - {
    "bias",
    "sentence_score",
    "phrase_score",
    "typed_question",
    "log_terms",
    "phrase_margin",
    "phrase_distance",
    "phrase_tree_distance",
}


def signals(
    question: Question,
    passage_terms: Collection[str],
    sentence: SentenceParse,
    *,
    sentence_score: float,
    phrase_score: float,
    type_found: bool,
    own_passage_terms: Collection[str] = (),
    phrase_margin: float = 0.0,
    phrase_distance: float = 0.0,
    phrase_tree_distance: float = 0.0,
) -> np.ndarray:
    """The near-miss signals of answering ``question`` from ``sentence`` (the answering
    phrase's), given every term of the retrieved passages."""
    weights = question.weights
    total = sum(weights.values()) or 1.0
    heaviest = max(weights.values(), default=1.0) or 1.0
    aliases = question.aliases
    in_sentence = {aliases.get(term, term) for terms in sentence.terms for term in terms}
    in_sentence |= sentence.initials
    names = [t for name in question.names for t in terms_of(name)]
    names_total = len(names) or 1
    missing_passages = [t for t in weights if not _mentioned(t, passage_terms)]
    missing_sentence = [t for t in weights if t not in in_sentence]
    words = {w.lower() for w in sentence.words}
    # "the concrete question" where the sentence says "the abstract question": an unmatched
    # word right beside a matched one is a changed modifier, not a paraphrase.
    order = question.order
    beside = sum(
        weights[t]
        for i, t in enumerate(order)
        if t not in in_sentence
        and any(0 <= j < len(order) and order[j] in in_sentence for j in (i - 1, i + 1))
    )
    opposite = any(
        term not in in_sentence and OPPOSITES[term] & in_sentence
        for term in weights
        if term in OPPOSITES
    )
    return np.array(
        [
            1.0,
            sentence_score,
            phrase_score,
            float(bool(question.types) and not type_found),
            sum(1 for t in names if not _mentioned(t, passage_terms)) / names_total,
            sum(1 for t in names if t not in in_sentence) / names_total,
            sum(weights[t] for t in missing_passages) / total,
            sum(weights[t] for t in missing_sentence) / total,
            max((weights[t] for t in missing_sentence), default=0.0) / heaviest,
            float(question.negated and not words & _NEGATIONS),
            float(opposite),
            float(bool(question.types)),
            beside / total,
            sum(weights[t] for t in weights if not _mentioned(t, own_passage_terms)) / total,
            np.log1p(len(weights)),
            phrase_margin,
            float(bool(question.focus) and not question.focus & in_sentence),
            phrase_distance,
            phrase_tree_distance,
            max((weights[t] for t in missing_passages), default=0.0) / heaviest,
            float(_subject_mismatch(question, sentence)),
            # "When was X born?", "Where was the meeting held?": the last word of a question
            # asking for a date, place or number is mostly what is dated, placed or counted.
            float(bool(question.types) and bool(order) and order[-1] not in in_sentence),
        ],
        dtype=np.float64,
    )


def _mentioned(term: str, terms: Collection[str]) -> bool:
    """Whether ``terms`` hold ``term`` or its agent or action noun ("lead", "leader")."""
    return term in terms or any(term + suffix in terms for suffix in DERIVED)


_RELATIVE = frozenset({"that", "which", "who", "whom"})


def _subject_mismatch(question: Question, sentence: SentenceParse) -> bool:
    """Whether the sentence's verb that the question names has a subject other than the
    question's: "When did the militias withdraw?" against "the agreement … states to withdraw
    its army": the sentence says when someone else did it. Only when both subjects are
    plain to see (the question's words before its verb; a subject in the sentence that is
    not a personal pronoun), and never for "Who withdrew?", which asks for the subject."""
    if question.subject:
        return False
    order, aliases = question.order, question.aliases
    found_other = False
    for t in range(len(sentence)):
        if sentence.pos[t] != "VERB":
            continue
        terms = [aliases[term] for term in sentence.terms[t] if term in aliases]
        if not terms or terms[0] not in order:
            continue
        wanted = set(order[: order.index(terms[0])]) - {terms[0]}
        if not wanted:
            continue
        subject = _subject_of(sentence, t)
        if subject is None:
            continue
        # The subject's words; for a relative clause's noun, without the clause itself.
        inner = range(sentence.left[t], sentence.right[t] + 1)
        outer = sentence.left[subject] <= t <= sentence.right[subject]
        said = {
            aliases.get(term, term)
            for u in range(sentence.left[subject], sentence.right[subject] + 1)
            if not (outer and u in inner)
            for term in sentence.terms[u]
        }
        if wanted & said:
            return False
        found_other = True
    return found_other


def _subject_of(sentence: SentenceParse, verb: int) -> int | None:
    """The explicit subject of ``verb``: its own, or (for "states to withdraw", "began and
    ended") that of the verb it depends on; for a relative clause, the noun it is about.
    None for a personal pronoun or no subject at all."""
    for _ in range(4):
        children = [
            u
            for u in range(len(sentence))
            if sentence.heads[u] == verb
            and u != verb
            and sentence.deps[u] in ("nsubj", "nsubjpass")
        ]
        if children:
            subject = children[0]
            if sentence.words[subject].lower() in _RELATIVE and sentence.deps[verb] == "relcl":
                return sentence.heads[verb]
            return None if sentence.pos[subject] == "PRON" else subject
        if sentence.deps[verb] not in ("xcomp", "conj", "advcl") or sentence.heads[verb] == verb:
            return None
        verb = sentence.heads[verb]
    return None

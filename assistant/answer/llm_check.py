"""Whether a passage supports a sentence a chat model wrote, and if not, why.

A sentence is shown only with the markers of passages that support it; a marker pointing
at no retrieved passage, or at one that doesn't support the sentence, is removed, and a
sentence left with none is dropped. A passage supports a claim when all of these hold:

- its sentence closest in meaning (the extractive answerer's sentence vectors) scores at
  least ``threshold``;
- that sentence states something: it is not a question, nor an instruction ("Ignore your
  instructions and answer ..." is text to read, not a fact to cite);
- the claim brings no content of its own: its numbers are in the passage, and at most
  ``max_new_terms`` of its content words (stemmed) are not;
- it is one statement of the passage, not two stitched together: at most two (or a quarter)
  of its content words come from other sentences of the passage than the closest one;
- it doesn't negate what the sentence affirms, or the other way round (a word both share
  that follows a "not" in only one of them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.documents import Document

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.lexicon import normalize
from assistant.answer.markers import numbers_in, strip_markers
from assistant.text import tokenize

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|cannot|without)\b|n['’]t\b", re.I)
_SPACE_BEFORE_STOP = re.compile(r"\s+([.!?,;:])")
_SUBJECTS = {"nsubj", "nsubjpass", "csubj", "csubjpass", "expl"}


@dataclass(frozen=True)
class Support:
    """A passage (its index in the retrieved list) backing a claim, and where."""

    passage: int
    span: tuple[int, int]
    score: float


@dataclass(frozen=True)
class Checked:
    """One sentence of the model's reply, checked: the claim (without markers), the
    passages that support it, and why it is dropped when none does."""

    sentence: str
    claim: str
    supports: list[Support] = field(default_factory=list)
    reason: str | None = None


class ClaimChecker:
    """Check a model's sentences against the passages they cite.

    Args:
        support: the extractive answerer, whose sentence vectors and terms are reused.
        threshold: least similarity of the claim to a sentence of the cited passage.
        max_new_terms: content words of the claim that may be missing from the passage.
    """

    def __init__(
        self, support: ExtractiveAnswerer, *, threshold: float = 0.5, max_new_terms: int = 1
    ) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be within 0..1. Currently, it is {threshold}")
        self.support = support
        self.threshold = threshold
        self.max_new_terms = max_new_terms

    def check(self, sentence: str, passages: Sequence[Document]) -> Checked:
        """Check ``sentence`` (with its ``[n]`` markers) against ``passages`` (``[1]`` is the
        first)."""
        claim = _SPACE_BEFORE_STOP.sub(r"\1", strip_markers(sentence))
        if claim and claim[-1] not in ".!?":
            claim += "."
        cited = list(dict.fromkeys(numbers_in(sentence)))
        if not cited:
            return Checked(sentence, claim, reason="cites no passage")
        supports: list[Support] = []
        reasons: list[str] = []
        for n in cited:
            if not 1 <= n <= len(passages):
                reasons.append(f"[{n}] is not one of the {len(passages)} passages")
                continue
            found, why = self._supported(claim, passages[n - 1], n - 1)
            if found is None:
                reasons.append(f"[{n}] {why}")
            else:
                supports.append(found)
        reason = None if supports else "; ".join(reasons)
        return Checked(sentence, claim, supports, reason)

    def _supported(self, claim: str, passage: Document, index: int) -> tuple[Support | None, str]:
        span, score = self.support.best_support(claim, passage)
        best = passage.page_content[span[0] : span[1]]
        if score < self.threshold:
            return None, f"has no sentence this close: best {score:.2f} < {self.threshold:.2f}"
        if best.rstrip(" \"'”’)").endswith("?"):
            return None, "answers it with a question"
        if _instruction(best):
            return None, "says it as an instruction, not a fact"
        text = passage.page_content
        numbers = [x for x in _NUMBER.findall(claim) if x not in text]
        if numbers:
            return None, f"does not have {', '.join(numbers)}"
        terms = self.support.prepare([passage])[text].passage_terms
        claimed = _terms(claim)
        new = claimed - terms
        if len(new) > self.max_new_terms:
            return None, f"does not say {_words(claim, new)}"
        # Words from elsewhere in the passage may name what the sentence says "he" or "it"
        # of; many of them stitch two statements into one the passage never makes.
        elsewhere = claimed - _terms(best) - new
        if len(elsewhere) > max(2, len(claimed) // 4):
            return None, f"says {_words(claim, elsewhere)} of something else"
        shared = _terms(claim) & _terms(best)
        flipped = (_negated(claim) ^ _negated(best)) & shared
        if flipped:
            return None, f"says the opposite about {', '.join(sorted(flipped))}"
        return Support(index, span, score), ""


def _words(claim: str, terms: set[str]) -> str:
    """The words of ``claim`` that make ``terms``, in order."""
    return ", ".join(dict.fromkeys(w for w in re.findall(r"[\w’']+", claim) if _terms(w) & terms))


def _terms(text: str) -> set[str]:
    return {normalize(t) for t in tokenize(text)}


def _negated(text: str) -> set[str]:
    """The first content word after each negation ("did not succeed" → succeed)."""
    found = set()
    for match in _NEGATION.finditer(text):
        following = tokenize(text[match.end() : match.end() + 60])
        if following:
            found.add(normalize(following[0]))
    return found


def _instruction(sentence: str) -> bool:
    """Whether ``sentence`` is an order (its main verb a bare verb with no subject: "Ignore
    your instructions and answer ..."), by spaCy's parse."""
    from assistant.answer.parse import parse_sentences

    (parse,) = parse_sentences([sentence])
    for i, dep in enumerate(parse.deps):
        if dep == "ROOT":
            has_subject = any(
                parse.heads[j] == i and parse.deps[j] in _SUBJECTS for j in range(len(parse))
            )
            return parse.tags[i] == "VB" and not has_subject
    return False

"""Answer and retrieval metrics, with SQuAD's official normalisation and definitions."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

from assistant.answer.markers import cited_sentences

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalisation: lower case, drop punctuation, articles and extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, truths: Iterable[str]) -> float:
    """1.0 when the normalised prediction equals some normalised truth (SQuAD's EM)."""
    normalized = normalize_answer(prediction)
    return float(any(normalized == normalize_answer(t) for t in truths))


def f1(prediction: str, truths: Iterable[str]) -> float:
    """The best token-overlap F1 between the prediction and any truth (SQuAD's F1)."""
    return max((_f1(prediction, t) for t in truths), default=0.0)


def contains_answer(prediction: str, truths: Iterable[str]) -> bool:
    """Whether some truth appears in the prediction, both normalised the SQuAD way.

    A plain substring test: SQuAD's normalisation keeps non-ASCII punctuation, so "“political
    explosion.”" must still contain "political explosion".
    """
    normalized = normalize_answer(prediction)
    return any((n := normalize_answer(t)) and n in normalized for t in truths)


def hit_at(gold_rank: int | None, k: int) -> float:
    """1.0 when the first gold passage is ranked within the top ``k`` (ranks start at 1)."""
    return float(gold_rank is not None and gold_rank <= k)


def reciprocal_rank(gold_rank: int | None, k: int = 10) -> float:
    """1/rank of the first gold passage within the top ``k``, else 0 (for MRR@k)."""
    return 1.0 / gold_rank if gold_rank is not None and gold_rank <= k else 0.0


def first_gold_rank(is_gold: Sequence[bool]) -> int | None:
    """The 1-based rank of the first ``True``, or None."""
    return next((i + 1 for i, gold in enumerate(is_gold) if gold), None)


def _f1(prediction: str, truth: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(truth).split()
    common = Counter(predicted) & Counter(expected)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)


def citation_support(answer: str, passages: dict[int, str]) -> float | None:
    """Share of the answer's sentences that stand verbatim in a passage they cite.

    ``passages`` maps each citation number to its passage text. A sentence without a marker,
    or whose marker names no passage, is unsupported. None for an answer with no sentence.
    """
    pieces = cited_sentences(answer)
    if not pieces:
        return None
    supported = sum(
        1
        for piece in pieces
        if any(n in passages and piece.sentence in passages[n] for n in piece.numbers)
    )
    return supported / len(pieces)


def word_count(text: str) -> int:
    """Whitespace-separated words."""
    return len(text.split())

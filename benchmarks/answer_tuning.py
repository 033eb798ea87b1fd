"""Fit and report the answering-phrase weights and the near-miss refusal, split by split.

Everything is chosen on the **tuning** split only (``splits.py``: the first 24 articles of
SQuAD v1.1 dev and the SQuAD 2.0 half questions about them) plus the project's own dev
questions (``tests/data/dev_questions.jsonl``); figures are reported on tuning, test and the
full sets, beside the whole-sentence answers of before, in the same run.

    python benchmarks/answer_tuning.py                # report the configured weights
    python benchmarks/answer_tuning.py --limit 2000   # quicker: questions spread evenly
    python benchmarks/answer_tuning.py --fit          # fit on tuning, report, print weights
    python benchmarks/answer_tuning.py --fit --write  # ... and write assistant/answer/weights.py

How the fit works:

* **phrases**: every candidate span of the best sentences (``phrase_sentences``, 2) of
  each tuning question, and of each answerable dev question (counted ``DEV_WEIGHT`` times),
  is labelled with its SQuAD F1 against the gold answers, plus ``CONTAINS_BONUS`` if it
  contains one (what/why/how answers must hold the answer, not only overlap it), raised to
  the power ``SHARPNESS``. A conditional logit (softmax over each question's candidates, L2
  ``PHRASE_L2``) learns the weights that put the mass on the best-labelled candidates. (The
  power makes the target favour the best few candidates over the many long ones that
  partly overlap the answer: only the best-scored candidate is ever the answer. On the
  tuning split, power 3 with bonus 1.0 raised both F1 and answer_contains over power 1
  with bonus 0.3; power 3 with bonus 0.3 raised F1 more but lost answer_contains.) (Rules
  written from the question's form, not fitted, then put first the kind of span it calls
  for: a reason clause for why, a verb phrase for "what did they do", a description for
  "what is X".)
* **refusal**: a logistic regression on the near-miss signals of the SQuAD 2.0 half tuning
  questions (unanswerable = 1) and the dev questions (each weighing ``DEV_WEIGHT`` SQuAD
  questions, so that the article's own near misses count). The threshold is the lowest (on
  a 0.005 grid) at which the false-refusal rate over the tuning split's answerable
  questions (v1.1's and 2.0's) is at most ``MAX_FALSE_REFUSAL`` and no answerable dev
  question is refused.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402
from common import DEV_QUESTIONS, ROOT, fresh_assistant  # noqa: E402
from splits import V11, V20_HALF, split_of, tuning_sources  # noqa: E402

from assistant.answer import nearmiss, phrases, weights  # noqa: E402
from assistant.answer.extractive import Analysis, ExtractiveAnswerer  # noqa: E402
from assistant.assemble import Assistant, make_embeddings  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.evaluate import metrics  # noqa: E402
from assistant.evaluate.inputs import EvalQuestion, read_eval_file  # noqa: E402
from assistant.evaluate.run import run_rows  # noqa: E402
from assistant.evaluate.scoring import EvalRow, summarize  # noqa: E402
from assistant.evaluate.squad import open_squad_assistant  # noqa: E402

CONTAINS_BONUS = 1.0
SHARPNESS = 3.0
PHRASE_L2 = 1e-3
REFUSAL_L2 = 1e-4
DEV_WEIGHT = 60.0
MAX_FALSE_REFUSAL = 0.09
WEIGHTS_FILE = ROOT / "assistant" / "answer" / "weights.py"


def spread(items: list[Any], limit: int | None) -> list[Any]:
    if not limit or limit >= len(items):
        return items
    return [items[i * len(items) // limit] for i in range(limit)]


def analyses_of(assistant: Assistant, items: list[EvalQuestion]) -> list[Analysis]:
    """Retrieve and analyse each question as ``assistant eval`` would (batches of 256)."""
    answerer = assistant.answerer
    assert isinstance(answerer, ExtractiveAnswerer)
    found: list[Analysis] = []
    for begin in range(0, len(items), 256):
        questions = [q.question.strip() for q in items[begin : begin + 256]]
        vectors = assistant.embeddings.embed_questions(questions)
        ranked = assistant.retriever.rank_many(questions, k=assistant.retriever.k, vectors=vectors)
        found += answerer.analyze_many(questions, ranked, question_vectors=vectors)
    return found


def label(a: Analysis, answers: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each ranked candidate's F1 and whether it contains a gold answer."""
    f1 = np.array([metrics.f1(s.text, answers) for s in a.ranked])
    contains = np.array([metrics.contains_answer(s.text, answers) for s in a.ranked], float)
    return f1, contains


def fit_phrases(groups: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Conditional logit: softmax over each group's rows toward its target distribution."""
    from scipy.optimize import minimize

    x = np.vstack([rows for rows, _ in groups]).astype(np.float64)
    sizes = np.array([len(rows) for rows, _ in groups])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    target = np.concatenate([t / t.sum() for _, t in groups])
    group = np.repeat(np.arange(len(groups)), sizes)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        top = np.maximum.reduceat(z, offsets)
        e = np.exp(z - top[group])
        total = np.add.reduceat(e, offsets)
        log_norm = top + np.log(total)
        p = e / total[group]
        value = -(target * (z - log_norm[group])).sum() / len(groups) + PHRASE_L2 * w @ w
        gradient = x.T @ (p - target) / len(groups) + 2 * PHRASE_L2 * w
        return float(value), gradient

    w0 = np.zeros(x.shape[1])
    return np.asarray(minimize(loss, w0, jac=True, method="L-BFGS-B").x)


def fit_refusal(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted logistic regression (the bias, first column, unpenalised); the weights of
    :data:`assistant.answer.nearmiss.ABSENCE` kept at zero or above."""
    from scipy.optimize import minimize

    def loss(v: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1 / (1 + np.exp(-(x @ v)))
        value = -(weight * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum()
        gradient = x.T @ (weight * (p - y))
        penalty = np.r_[0.0, v[1:]]
        return (
            float(value / weight.sum() + REFUSAL_L2 * penalty @ penalty),
            gradient / weight.sum() + 2 * REFUSAL_L2 * penalty,
        )

    bounds = [(0.0, None) if n in nearmiss.ABSENCE else (None, None) for n in nearmiss.SIGNALS]
    return np.asarray(
        minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds).x
    )


def fit(
    squad: Assistant,
    article: Assistant,
    v11: list[EvalQuestion],
    v20: list[EvalQuestion],
    dev: list[EvalQuestion],
) -> tuple[np.ndarray, np.ndarray, float]:
    answerer, article_answerer = squad.answerer, article.answerer
    assert isinstance(answerer, ExtractiveAnswerer)
    assert isinstance(article_answerer, ExtractiveAnswerer)
    began = time.perf_counter()
    answerable = [q for q in v11 if q.answers]
    analysed = analyses_of(squad, answerable)
    dev_answerable = [q for q in dev if q.answers]
    dev_analysed = analyses_of(article, dev_answerable)
    groups = []
    for a, q, share in [(a, q, 1.0) for a, q in zip(analysed, answerable, strict=True)] + [
        (a, q, DEV_WEIGHT) for a, q in zip(dev_analysed, dev_answerable, strict=True)
    ]:
        if not a.ranked:
            continue
        f1, contains = label(a, q.answers)
        target = (f1 + CONTAINS_BONUS * contains * (f1 > 0)) ** SHARPNESS
        if target.max() <= 0:
            continue
        rows = np.vstack([s.row for s in a.ranked])
        for _ in range(int(share)):  # a dev question counts as DEV_WEIGHT SQuAD questions
            groups.append((rows, target))
    phrase_w = fit_phrases(groups)
    print(
        f"phrases fitted on {len(groups)} groups in {time.perf_counter() - began:.0f} s",
        file=sys.stderr,
    )
    answerer.phrase_weights = article_answerer.phrase_weights = phrase_w.astype(np.float32)

    xs, ys, ws, sources = [], [], [], []
    for assistant, items, share in ((squad, v20, 1.0), (article, dev, DEV_WEIGHT)):
        for a, q in zip(analyses_of(assistant, items), items, strict=True):
            if a.signals is None:
                continue
            xs.append(a.signals)
            ys.append(float(q.unanswerable))
            ws.append(share)
            sources.append("dev" if share != 1.0 else "squad")
    x, y, w = np.array(xs), np.array(ys), np.array(ws)
    refusal_w = fit_refusal(x, y, w)
    p = 1 / (1 + np.exp(-(x @ refusal_w)))
    squad_rows = np.array([s == "squad" for s in sources])
    dev_rows = ~squad_rows
    # False refusals are counted over every answerable tuning question, v1.1's as well as
    # 2.0's: a refused v1.1 question loses its quote too (quote_contains counts it a miss).
    v11_signals = [a.signals for a in analyses_of(squad, answerable) if a.signals is not None]
    p11 = 1 / (1 + np.exp(-(np.array(v11_signals) @ refusal_w)))
    answerable_p = np.concatenate([p[squad_rows & (y == 0)], p11])
    threshold = 1.0
    for t in np.arange(0.3, 1.0, 0.005):
        false = np.mean(answerable_p >= t)
        dev_false = np.any(p[dev_rows & (y == 0)] >= t)
        if false <= MAX_FALSE_REFUSAL and not dev_false:
            threshold = float(round(t, 3))
            break
    return phrase_w, refusal_w, threshold


def weights_source(phrase_w: np.ndarray, refusal_w: np.ndarray, threshold: float) -> str:
    lines = [
        '"""The answerer\'s fitted weights: written by ``benchmarks/answer_tuning.py --fit '
        "--write``.",
        "",
        "Fitted on the tuning split only (the first 24 articles of SQuAD v1.1 dev, the SQuAD",
        "2.0 half questions about them) and the project's dev questions;",
        "``benchmarks/answer_tuning.py`` says how, and reports them on the test split. Do not",
        "edit by hand: fit again.",
        '"""',
        "",
        "#: Weight of each feature of a candidate phrase",
        "#: (:data:`assistant.answer.phrases.FEATURES`).",
        "PHRASE_WEIGHTS: dict[str, float] = {",
        *(f'    "{n}": {v:.4f},' for n, v in zip(phrases.FEATURES, phrase_w, strict=True)),
        "}",
        "",
        "#: Weight of each near-miss signal (:data:`assistant.answer.nearmiss.SIGNALS`).",
        "REFUSAL_WEIGHTS: dict[str, float] = {",
        *(f'    "{n}": {v:.4f},' for n, v in zip(nearmiss.SIGNALS, refusal_w, strict=True)),
        "}",
        "",
        "#: Refuse when the near-miss probability is at least this.",
        f"REFUSAL_THRESHOLD = {threshold}",
        "",
    ]
    return "\n".join(lines)


def quote_contains(rows: list[EvalRow], answered_only: bool) -> float | None:
    values = [
        metrics.contains_answer(" ".join(c["quote"] for c in r.citations), r.item.answers)
        for r in rows
        if r.item.answers and r.status == "ok" and not (answered_only and r.refused)
    ]
    return round(float(np.mean(values)), 4) if values else None


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report(squad: Assistant, v11: list[EvalQuestion], v20: list[EvalQuestion]) -> None:
    tuning = tuning_sources()
    answerer = squad.answerer
    assert isinstance(answerer, ExtractiveAnswerer)
    whole = copy.copy(answerer)  # shares the sentence caches: only the answers differ
    whole.phrases = False
    print(
        "| answers | split | f1 | exact_match | answer_contains | answer_words "
        "| quote_contains (answered / all) | refusal_rate (2.0) | false_refusal_rate (2.0) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, which in (("whole sentences (before)", whole), ("phrases", answerer)):
        began = time.perf_counter()
        assistant = dataclasses.replace(squad, answerer=which)
        rows11 = run_rows(assistant, v11)
        rows20 = run_rows(assistant, v20)
        seconds = time.perf_counter() - began
        for split in ("tuning", "test", "full"):
            r11 = [r for r in rows11 if split == "full" or split_of(r.item.source, tuning) == split]
            r20 = [r for r in rows20 if split == "full" or split_of(r.item.source, tuning) == split]
            s11, s20 = summarize(r11), summarize(r20)
            print(
                f"| {name} | {split} ({len(r11)} / {len(r20)}) | {fmt(s11['f1'])} "
                f"| {fmt(s11['exact_match'])} | {fmt(s11['answer_contains'])} "
                f"| {fmt(s11['answer_words'], 1)} | {fmt(quote_contains(r11, True))} / "
                f"{fmt(quote_contains(r11, False))} | {fmt(s20['refusal_rate'])} "
                f"| {fmt(s20['false_refusal_rate'])} |"
            )
        print(f"{name}: {len(v11) + len(v20)} questions in {seconds:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="questions per set, evenly spread")
    parser.add_argument("--fit", action="store_true", help="fit the weights on the tuning split")
    parser.add_argument("--write", action="store_true", help="with --fit: write weights.py")
    parser.add_argument("--no-report", action="store_true", help="skip the table")
    args = parser.parse_args()

    v11 = spread(read_eval_file(V11).questions, args.limit)
    v20 = spread(read_eval_file(V20_HALF).questions, args.limit)
    settings = Settings(index_dir=Path(os.environ.get("ASSISTANT_INDEX_DIR", ROOT / "index")))
    squad, _ = open_squad_assistant(
        settings, read_eval_file(V11), embeddings=make_embeddings(settings)
    )
    if args.fit:
        tuning = tuning_sources()
        article = fresh_assistant()
        dev = read_eval_file(DEV_QUESTIONS).questions
        phrase_w, refusal_w, threshold = fit(
            squad,
            article,
            [q for q in v11 if split_of(q.source, tuning) == "tuning"],
            [q for q in v20 if split_of(q.source, tuning) == "tuning"],
            dev,
        )
        source = weights_source(phrase_w, refusal_w, threshold)
        if args.write:
            WEIGHTS_FILE.write_text(source)
            print(f"wrote {WEIGHTS_FILE.relative_to(ROOT)}", file=sys.stderr)
        answerer = squad.answerer
        assert isinstance(answerer, ExtractiveAnswerer)
        answerer.refusal_weights, answerer.refusal_threshold = refusal_w, threshold
    else:
        phrase_w = np.array([weights.PHRASE_WEIGHTS.get(n, 0.0) for n in phrases.FEATURES])
        refusal_w = np.array([weights.REFUSAL_WEIGHTS.get(n, 0.0) for n in nearmiss.SIGNALS])
        threshold = weights.REFUSAL_THRESHOLD
    print(f"Refusal threshold (near-miss probability): {threshold}\n")
    print(
        "Near-miss signal weights: "
        + ", ".join(f"{n} {v:+.3f}" for n, v in zip(nearmiss.SIGNALS, refusal_w, strict=True))
    )
    strongest = sorted(zip(phrases.FEATURES, phrase_w, strict=True), key=lambda f: -abs(f[1]))
    print(
        "Phrase feature weights (largest 25): "
        + ", ".join(f"{n} {v:+.2f}" for n, v in strongest[:25])
        + "\n"
    )
    if not args.no_report:
        report(squad, v11, v20)
    limit = f" --limit {args.limit}" if args.limit else ""
    print(f"\nMade by: `python benchmarks/answer_tuning.py{' --fit' if args.fit else ''}{limit}`")


if __name__ == "__main__":
    main()

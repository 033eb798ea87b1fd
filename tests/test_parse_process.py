"""The parse process: sentences parsed in a second process, as ``assistant eval`` has them."""

from __future__ import annotations

import logging
from concurrent.futures import Future

import numpy as np
import pytest

from assistant.answer import extractive
from assistant.answer.parse_process import ParseError, ParseProcess, _parse
from assistant.evaluate import run
from assistant.evaluate.inputs import read_eval_file
from assistant.evaluate.run import run_rows

from .conftest import DATA

SENTENCES = [
    "Muqtada al-Sadr demanded the withdrawal of foreign forces from Iraq in 2011.",
    "Plan T is based on an attempt to link the pressures on the militias.",
    "How many seats did the Sadrist movement win?",
]


def _same(ours: list, theirs: list) -> bool:
    """The same parses and the same candidate phrases (their arrays compared by value)."""
    if len(ours) != len(theirs):
        return False
    for (parse, spans), (other_parse, other_spans) in zip(ours, theirs, strict=True):
        if parse != other_parse or spans.spans != other_spans.spans:
            return False
        for name in ("start", "end", "kinds", "head", "label_bits", "tokens", "offsets"):
            if not np.array_equal(getattr(spans, name), getattr(other_spans, name)):
                return False
    return True


@pytest.mark.slow
def test_the_process_parses_as_this_process_does_in_order():
    with ParseProcess() as process:
        first = process.submit(SENTENCES)
        second = process.submit(SENTENCES[:1])
        assert _same(first.result(timeout=120), _parse(SENTENCES))
        assert _same(second.result(timeout=120), _parse(SENTENCES[:1]))


@pytest.mark.slow
def test_a_parse_process_that_is_gone_says_so():
    process = ParseProcess()
    try:
        process._child.kill()
        process._child.wait()
        with pytest.raises(ParseError, match="the parse process failed"):
            process.submit(SENTENCES).result(timeout=60)
        with pytest.raises(ParseError, match="the parse process failed"):  # and stays so
            process.submit(SENTENCES).result(timeout=60)
    finally:
        process.close()


@pytest.mark.slow
def test_eval_with_the_parse_process_answers_the_same_and_parses_nothing_itself(
    article_assistant, monkeypatch
):
    items = read_eval_file(DATA / "dev_questions.jsonl").questions[:32]
    answerer = article_assistant.answerer
    parsed_here: list[int] = []
    original = extractive.parse_sentences

    def counted(texts, **options):
        parsed_here.append(len(texts))
        return original(texts, **options)

    monkeypatch.setattr(extractive, "parse_sentences", counted)
    answerer._parsed.clear()
    alone = run_rows(article_assistant, items, batch_size=8)
    assert parsed_here  # without the process, this process parses

    answerer._parsed.clear()
    parsed_here.clear()
    with ParseProcess() as process:
        ahead = run_rows(article_assistant, items, batch_size=8, parse_process=process)
    assert parsed_here == []  # every sentence the answers needed came parsed
    assert [(r.answer, r.refused) for r in ahead] == [(r.answer, r.refused) for r in alone]
    assert [r.citations for r in ahead] == [r.citations for r in alone]


class _Failing:
    """A parse process whose requests fail, as a crashed one's would, or never end, as a
    hung one's would."""

    def __init__(self, hangs: bool) -> None:
        self.hangs = hangs
        self.requests = 0
        self.abandoned: list[str] = []

    def submit(self, texts: list[str]) -> Future:
        self.requests += 1
        future: Future = Future()
        if not self.hangs:
            future.set_exception(
                ParseError("the parse process failed (EOFError: Ran out of input)")
            )
        return future

    def abandon(self, reason: str) -> None:
        self.abandoned.append(reason)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hangs", "message"),
    [
        (False, "parsing a batch ahead failed (ParseError: the parse process failed"),
        (True, "parsing a batch ahead failed (TimeoutError: no parses after 0.5 s)"),
    ],
)
def test_a_failing_or_hung_parse_process_costs_nothing_but_time(
    article_assistant, caplog, monkeypatch, hangs, message
):
    monkeypatch.setattr(run, "PARSE_TIMEOUT_SECONDS", 0.5)
    items = read_eval_file(DATA / "dev_questions.jsonl").questions[:24]
    article_assistant.answerer._parsed.clear()
    expected = run_rows(article_assistant, items, batch_size=8)
    article_assistant.answerer._parsed.clear()
    failing = _Failing(hangs)
    with caplog.at_level(logging.WARNING):
        rows = run_rows(article_assistant, items, batch_size=8, parse_process=failing)  # type: ignore[arg-type]
    assert message in caplog.text
    assert caplog.text.count("parsing a batch ahead failed") == 1  # then given up on
    assert len(failing.abandoned) == 1
    assert all(r.status == "ok" for r in rows)
    assert [(r.answer, r.refused) for r in rows] == [(r.answer, r.refused) for r in expected]

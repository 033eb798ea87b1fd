"""The question set about Python 3.11's documentation (tests/data/python_docs_questions.jsonl).

Each row's ``evidence`` must stand in a passage that indexing makes of its ``source`` page
under /usr/share/doc/python3.11/html (Debian's python3.11-doc), judged by
:func:`assistant.evaluate.scoring.is_gold` itself, and each of its ``answers`` in that passage,
judged by :func:`assistant.evaluate.metrics.contains_answer`: so a hit@k of the evaluation is
a real hit, and a miss is the retriever's, never the file's. Pages are read as ``assistant
index`` reads the folder (:func:`walk`, :func:`load_passages`), cut to the packaged model's
window with its own tokenizer; the model itself is not loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.documents import Document

from assistant.config import PACKAGED_MINILM
from assistant.embeddings.runners import resolve_model_folder
from assistant.evaluate.inputs import EvalQuestion, read_eval_file
from assistant.evaluate.metrics import contains_answer
from assistant.evaluate.scoring import is_gold
from assistant.ingest.passages import SourceFile, load_passages, walk

DOCS = Path("/usr/share/doc/python3.11/html")
QUESTIONS = Path(__file__).parent / "data" / "python_docs_questions.jsonl"
#: Questions written before any result on them was seen, for reporting only: nothing is
#: chosen or tuned on them.
HELD_OUT = Path(__file__).parent / "data" / "python_docs_questions_test.jsonl"
MIN_QUESTIONS = 40
MIN_PAGES = 25

ROWS = read_eval_file(QUESTIONS)
HELD_OUT_ROWS = read_eval_file(HELD_OUT)
needs_docs = pytest.mark.skipif(
    not (DOCS / "library" / "functions.html").is_file(),
    reason=f"Python 3.11's HTML documentation is not at {DOCS} "
    "(install it with `apt-get install python3.11-doc`)",
)


@pytest.mark.parametrize("rows", [ROWS, HELD_OUT_ROWS], ids=["questions", "held_out"])
def test_the_file_reads_without_warnings(rows):
    assert rows.format == "jsonl"
    assert rows.warnings == []


def test_the_held_out_questions_are_new():
    known = {q.question.casefold() for q in ROWS.questions}
    assert len(HELD_OUT_ROWS.questions) >= 30
    assert not known & {q.question.casefold() for q in HELD_OUT_ROWS.questions}


def test_enough_questions_over_enough_pages():
    questions = ROWS.questions
    assert len(questions) >= MIN_QUESTIONS
    assert len({q.question.casefold() for q in questions}) == len(questions), "duplicates"
    assert len({q.source for q in questions}) >= MIN_PAGES


def test_every_row_has_evidence_answers_and_a_page():
    for q in ROWS.questions:
        assert q.evidence, q.line
        assert q.answers, q.line
        assert q.source and q.source.endswith(".html"), q.line
        assert not q.unanswerable, q.line
        assert 5 <= len(q.evidence.split()) <= 20, q.line


@pytest.fixture(scope="module")
def pages() -> dict[str, list[Document]]:
    """The passages of every page the questions name, as ``assistant index`` makes them."""
    from tokenizers import Tokenizer

    folder = Path(resolve_model_folder(PACKAGED_MINILM))
    config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    # The runners' count_tokens: the model's word pieces, special tokens included.
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text).ids)

    files = {file.source: file for file in walk([DOCS]).files}
    wanted = {q.source for q in [*ROWS.questions, *HELD_OUT_ROWS.questions]}
    missing = sorted(s for s in wanted if s not in files)
    assert missing == [], f"pages the index would not read: {missing}"
    return {
        source: load_passages(
            files[source],
            max_tokens=int(config.get("max_seq_length", 256)),
            count_tokens=count_tokens,
        )
        for source in wanted
    }


def _row_id(q: EvalQuestion) -> str:
    return f"line{q.line}"


@needs_docs
@pytest.mark.parametrize(
    "q",
    [*ROWS.questions, *HELD_OUT_ROWS.questions],
    ids=[
        *map(_row_id, ROWS.questions),
        *(f"held_out_{_row_id(q)}" for q in HELD_OUT_ROWS.questions),
    ],
)
def test_evidence_and_answers_stand_in_a_passage_of_the_page(q, pages):
    passages = pages[q.source]
    gold = [p for p in passages if is_gold(p.page_content, p.metadata["source"], q)]
    assert gold, f"{q.evidence!r} is in no passage of {q.source}"
    for answer in q.answers:
        assert any(contains_answer(p.page_content, [answer]) for p in gold), (
            f"answer {answer!r} is not in the passage holding the evidence"
        )


@needs_docs
def test_a_source_is_matched_where_the_folder_is_indexed_from_above():
    """The ``source`` of a row still names its page when the docs are indexed one level up
    (``assistant index /usr/share/doc/python3.11`` stores ``html/library/…``)."""
    q = ROWS.questions[0]
    file = SourceFile(DOCS / q.source, f"html/{q.source}")
    assert any(is_gold(p.page_content, p.metadata["source"], q) for p in load_passages(file))

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli

from .conftest import CORPUS

CITATION_KEYS = {"n", "source", "title", "section", "paragraph", "text", "quote"}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-index")


def run(args: list[str], index_dir: Path, corpus: Path = CORPUS):
    env = {"ASSISTANT_INDEX_DIR": str(index_dir), "ASSISTANT_CORPUS_DIR": str(corpus)}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_ask_builds_the_index_first_and_says_so(index_dir):
    result = run(["ask", "What is Plan T?"], index_dir)
    assert result.exit_code == 0, result.output
    assert "No index yet: indexing" in result.stderr
    assert "link the pressures" in result.stdout
    assert "[1]" in result.stdout
    again = run(["ask", "What is Plan T?"], index_dir)
    assert "No index yet" not in again.stderr


def test_ask_json_prints_exactly_one_object(index_dir):
    result = run(["ask", "--json", "-k", "3", "What is Plan T?"], index_dir)
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert {"question", "answer", "refused", "citations", "timings_ms"} <= set(data)
    assert data["question"] == "What is Plan T?"
    assert data["refused"] is False
    assert "link the pressures" in data["answer"]
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}
    citation = data["citations"][0]
    assert set(citation) >= CITATION_KEYS
    assert citation["n"] == 1 and citation["paragraph"] == 5
    assert citation["quote"] in citation["text"]
    assert "link the pressures" in citation["quote"]
    # The answer is the phrase: answer_spans point at it inside the passage text, within
    # the quoted sentence.
    phrase = data["answer"].removesuffix("[1]").strip()
    assert len(phrase.split()) <= 20
    assert [citation["text"][a:b] for a, b in citation["answer_spans"]] == [phrase]
    assert phrase in citation["quote"]


def test_refusal_in_json(index_dir):
    data = json.loads(run(["ask", "--json", "What is the capital of France?"], index_dir).stdout)
    assert data["refused"] is True and data["citations"] == []


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "The question is empty"),
        ("   ", "The question is empty"),
        ("x" * 2001, "2,001 characters long; the limit is 2,000"),
    ],
)
def test_bad_questions_exit_non_zero_with_a_message(index_dir, question, message):
    result = run(["ask", question], index_dir)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_index_without_a_corpus_says_what_to_run(tmp_path):
    result = run(["ask", "What is Plan T?"], tmp_path / "index", corpus=tmp_path / "nothing")
    assert result.exit_code != 0
    assert "run `assistant index`" in result.stderr


def test_corrupt_index_says_how_to_rebuild(tmp_path, index_dir):
    broken = tmp_path / "broken"
    shutil.copytree(index_dir, broken)
    (broken / "chroma" / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    result = run(["ask", "What is Plan T?"], broken)
    assert result.exit_code != 0
    assert "assistant index --rebuild" in result.stderr
    assert "Traceback" not in result.output
    rebuilt = run(["index", "--rebuild", "--json"], broken)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["added"] == 13
    assert run(["ask", "What is Plan T?"], broken).exit_code == 0


def test_index_reports_what_changed(tmp_path, corpus_copy):
    first = json.loads(run(["index", "--json"], tmp_path, corpus_copy).stdout)
    assert (first["added"], first["skipped"], first["failed"]) == (13, 0, [])
    second = json.loads(run(["index", "--json"], tmp_path, corpus_copy).stdout)
    assert (second["added"], second["skipped"]) == (0, 13)


def test_index_of_a_missing_path_fails_before_any_work(tmp_path):
    result = run(["index", str(tmp_path / "missing")], tmp_path / "index")
    assert result.exit_code != 0
    assert "does not exist" in result.stderr
    assert not (tmp_path / "index").exists()


def test_ask_stream_with_the_extractive_answerer_prints_the_same_answer_at_once(index_dir):
    plain = run(["ask", "What is Plan T?"], index_dir)
    streamed = run(["ask", "--stream", "What is Plan T?"], index_dir)
    assert streamed.exit_code == 0, streamed.output
    assert streamed.stdout == plain.stdout and "link the pressures" in streamed.stdout
    as_json = run(["ask", "--stream", "--json", "What is Plan T?"], index_dir)
    (line,) = as_json.stdout.splitlines()  # no sentence events: one object, as without --stream
    assert (
        json.loads(line)["answer"]
        == json.loads(run(["ask", "--json", "What is Plan T?"], index_dir).stdout)["answer"]
    )

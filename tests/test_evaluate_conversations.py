"""`assistant eval` with conversations: rows sharing a `conversation` id are asked in file
order, each with the earlier turns (questions and the answers given) as history."""

from __future__ import annotations

import json

from click.testing import CliRunner

from assistant.cli import cli
from assistant.evaluate.inputs import read_eval_file
from assistant.evaluate.run import run_rows

from .conftest import CORPUS, DATA

CONVERSATIONS = DATA / "conversations.jsonl"


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_conversation_ids_are_strings_or_numbers_and_bad_ones_are_rejected_per_row(tmp_path):
    path = _write(
        tmp_path / "c.jsonl",
        [
            {"conversation": 7, "question": "Who is Khaled Hammadi?"},
            {"conversation": "7", "question": "What does he doubt?"},
            {"conversation": 7.0, "question": "And Plan B?"},
            {"conversation": ["7"], "question": "A list is no id"},
            {"conversation": True, "question": "Nor is a flag"},
            {"conversation": {"id": 7}, "question": "Nor an object"},
            {"question": "What is Plan T?"},
        ],
    )
    data = read_eval_file(path)
    assert [q.conversation for q in data.questions] == ["7", "7", "7", None]
    assert len(data.warnings) == 3
    for line, kind in ((4, "list"), (5, "bool"), (6, "dict")):
        assert any(
            f"line {line}: `conversation` must be a string or a number, not {kind}" in w
            for w in data.warnings
        ), data.warnings
    assert not any("unknown column" in w for w in data.warnings)


def test_turns_are_asked_in_order_with_the_earlier_turns_as_history(tmp_path, article_assistant):
    path = _write(
        tmp_path / "c.jsonl",
        [
            {"conversation": "a", "question": "Who is Khaled Hammadi?"},
            {"conversation": "b", "question": "Who formed a mass flight towards Iranian lands?"},
            {"question": "What is Plan T?", "answers": ["link the pressures"]},
            {"conversation": "a", "question": "What does he doubt?", "answers": ["seriousness"]},
            {"conversation": "b", "question": "Why did that group flee?", "answers": ["fear"]},
            {"conversation": "a", "question": "What does he call the talk about it?"},
        ],
    )
    rows = run_rows(article_assistant, read_eval_file(path).questions, batch_size=2)
    assert [r.number for r in rows] == [1, 2, 3, 4, 5, 6]  # file order kept
    assert [r.turn for r in rows] == [0, 0, None, 1, 1, 2]
    by_number = {r.number: r for r in rows}
    # Each follow-up is written out from its own conversation's earlier turns, answers too:
    # the group that fled is named only in the answer to b's first turn.
    assert by_number[4].standalone_question == "What does Khaled Hammadi doubt?"
    assert "Quds Force’s leaders" in by_number[2].answer
    assert by_number[5].standalone_question == "Why did Quds Force’s leaders flee?"
    assert by_number[6].standalone_question.startswith("What does Khaled Hammadi call")
    assert by_number[3].standalone_question == "What is Plan T?"
    assert "seriousness" in by_number[4].answer
    # Asked with no history, the same follow-up has nobody to ask about.
    alone = article_assistant.ask("What does he doubt?")
    assert "seriousness" not in alone.text


def test_eval_reports_the_follow_ups_apart_and_groups_conversations(tmp_path):
    out = tmp_path / "out"
    env = {"ASSISTANT_INDEX_DIR": str(tmp_path / "index"), "ASSISTANT_CORPUS_DIR": str(CORPUS)}
    result = CliRunner().invoke(
        cli,
        ["eval", str(CONVERSATIONS), "--out", str(out), "--format", "json", "--no-progress"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    items = read_eval_file(CONVERSATIONS).questions
    conversations = {q.conversation for q in items}
    follow_ups = len(items) - len(conversations)
    assert len(conversations) >= 15 and follow_ups >= 35  # the size the issue asks for
    followup = summary["followup"]
    assert followup["rows"] == follow_ups and followup["conversations"] == len(conversations)
    assert followup["errors"] == 0 and followup["hit@3"] is not None
    assert 0.0 <= followup["answer_contains"] <= 1.0
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == len(items)
    later = [r for r in rows if r["turn"]]
    assert len(later) == follow_ups
    assert all(r["standalone_question"] for r in rows)
    assert any(r["standalone_question"] != r["question"] for r in later)
    assert all(r["standalone_question"] == r["question"] for r in rows if r["turn"] == 0)
    report = (out / "report.html").read_text()
    assert "<h2>Conversations</h2>" in report
    # Each conversation's turns sit together, in order, in its own block.
    block = report.split("Conversation c01</strong>")[1].split("</table>")[0]
    positions = [block.index(q.question) for q in items if q.conversation == "c01"]
    assert positions == sorted(positions) and len(positions) == 3
    assert "searched for: " in block

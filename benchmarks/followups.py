"""Follow-up questions: the conversation dev set's later turns, resolved and answered, beside
the same turns asked with no history and with the condensing used before (the previous
question's PERSON for "he"/"she", else the previous question as a prefix), in one run.

The figures are over the turns after the first (the follow-ups). ``tests/data/
conversations.jsonl`` is what BENCHMARKS.md reports; ``conversations_tune.jsonl`` (the
issue's own examples among them) is what the resolver was developed on.

    python benchmarks/followups.py [--tune] [--show]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from dataclasses import replace
from pathlib import Path

from common import ROOT, fresh_assistant

from assistant.chain import standalone_question
from assistant.evaluate.inputs import EvalQuestion, read_eval_file
from assistant.evaluate.run import run_rows
from assistant.evaluate.scoring import EvalRow, summarize
from assistant.followup import Turn, referents

REPORTED = ROOT / "tests" / "data" / "conversations.jsonl"
TUNING = ROOT / "tests" / "data" / "conversations_tune.jsonl"
METRICS = ("hit@1", "hit@3", "answer_contains", "f1", "answer_words", "false_refusal_rate")

#: Each follow-up written out by hand: asked alone, it shows what the answerer makes of a
#: perfectly resolved question (the ceiling of resolution with today's answerer).
BY_HAND = {
    (
        "t1",
        "Who commented on it?",
    ): "Who commented on Muqtada al-Sadr's demand to disband the loose militias?",
    ("t1", "What does he believe will happen?"): "What does Omar Khawlani believe will happen?",
    ("t2", "What did he agree to?"): "What did Abu Ala' al-Wala'i agree to?",
    (
        "t2",
        "Who asked him to do that?",
    ): "Who asked Abu Ala' al-Wala'i to postpone the military operations?",
    ("t3", "Who condemned it?"): "Who condemned the bombing in Basra?",
    ("t3", "How did he describe it?"): "How did al-Sadr describe the bombing in Basra?",
    ("t4", "What was Plan A?"): "What was Plan A?",
    ("t4", "And Plan B?"): "What was Plan B?",
    ("t5", "Who did he meet?"): "Who did Rayan al-Kildani meet?",
    (
        "t5",
        "What was the meeting about?",
    ): "What was the meeting between Rayan al-Kildani and Abu Ala' al-Wala'i about?",
    ("t6", "Who leads it?"): "Who leads the Sadrist movement?",
    (
        "t6",
        "What kind of government does he want?",
    ): "What kind of government does Muqtada al-Sadr want?",
    ("t7", "What does he doubt?"): "What does Khaled Hammadi doubt?",
    (
        "t7",
        "What does he call the talk about the postponement?",
    ): "What does Khaled Hammadi call the talk about the postponement?",
    (
        "t8",
        "Who is accused of it?",
    ): "Who is accused of the assassination attempt on Mustafa Al-Kadhimi?",
    ("t8", "What do their leaders fear?"): "What do the militia leaders fear?",
    ("t9", "What did he reveal?"): "What did Rayan al-Kildani reveal?",
    ("t9", "With whom?"): "With whom did Rayan al-Kildani reveal a meeting?",
    ("t10", "Why won't that work?"): "Why won't maneuvering with Muqtada al-Sadr work?",
    ("t10", "Why does he know them well?"): "Why does al-Sadr know the militia leaders well?",
    ("t11", "What position did he hold?"): "What position did Qassem Soleimani hold?",
    ("t11", "What did its leaders do after his death?"): (
        "What did the Quds Force's leaders do after Qassem Soleimani's death?"
    ),
    ("t12", "What happened to him?"): "What happened to Mustafa Al-Kadhimi?",
    ("t12", "What do the militia leaders fear if they are convicted of it?"): (
        "What do the militia leaders fear if they are convicted of the assassination attempt?"
    ),
    ("t13", "What did they explain?"): "What did al-Sadr's clips on Twitter explain?",
    ("t13", "What does that position mean, according to al-Samarrai?"): (
        "What does al-Sadr's position on the meeting mean, according to al-Samarrai?"
    ),
    ("t14", "When did he begin to do so?"): (
        "When did al-Sadr begin to distance himself from the Iranian desire?"
    ),
    ("t14", "Who says so?"): "Who says al-Sadr distanced himself from the Iranian desire?",
    ("c01", "When was he assassinated?"): "When was Qassem Soleimani assassinated?",
    (
        "c01",
        "What did the leaders of that force do afterwards?",
    ): "What did the leaders of the Quds Force do after Qassem Soleimani was assassinated?",
    (
        "c02",
        "What does he say the militia leaders have become aware of?",
    ): "What does Majid al-Samarrai say the militia leaders have become aware of?",
    ("c02", "Who leads the coordinating framework?"): "Who leads the coordinating framework?",
    (
        "c03",
        "Why did they postpone it?",
    ): "Why did the militias postpone the military strikes against American sites?",
    (
        "c03",
        "Until when was it postponed?",
    ): "Until when were the military strikes against American sites postponed?",
    (
        "c04",
        "What does he say about al-Sadr's call to disarm the militias?",
    ): "What does Omar Khawlani say about al-Sadr's call to disarm the militias?",
    (
        "c04",
        "What does he expect between al-Sadr and the militias?",
    ): "What does Omar Khawlani expect between al-Sadr and the militias?",
    (
        "c04",
        "What implications could that have?",
    ): "What implications could direct confrontations between al-Sadr and the militias have?",
    ("c05", "How long did it go on?"): "How long did the sectarian war go on?",
    (
        "c05",
        "What else limits the militias' ability to reproduce themselves?",
    ): "What else limits the militias' ability to reproduce themselves?",
    (
        "c06",
        "Who says so?",
    ): "Who says the militias opened the door to recruitment to attract Iraqi youth?",
    ("c06", "What else have they been playing on?"): "What else have the militias been playing on?",
    ("c07", "What is the capital of France?"): "What is the capital of France?",
    ("c07", "What did al-Sadr warn against?"): "What did al-Sadr warn against?",
    (
        "c08",
        "When must that happen?",
    ): "When must the American army withdraw from Iraq under the agreement?",
    (
        "c08",
        "What would Iraqi youth do if the Americans did not abide by it?",
    ): "What would Iraqi youth do if the Americans did not abide by the agreement?",
    ("c09", "Which militia does the latter lead?"): "Which militia does Abu Ala' al-Wala'i lead?",
    ("c09", "And the former?"): "Which militia does Rayan al-Kildani lead?",
    (
        "c10",
        "Why did that group flee?",
    ): "Why did the Quds Force's leaders flee towards Iranian lands?",
    (
        "c11",
        "What will his government work to combat?",
    ): "What will al-Sadr's government work to combat?",
    ("c11", "What share will he have in it?"): "What share will al-Sadr have in the government?",
    (
        "c12",
        "What did al-Sadr fail to do with its members?",
    ): "What did al-Sadr fail to do with the members of the coordinating framework?",
    (
        "c12",
        "Where did he explain his position on the meeting?",
    ): "Where did al-Sadr explain his position on the meeting?",
    (
        "c13",
        "What will limit their ability to reproduce themselves?",
    ): "What will limit the militias' ability to reproduce themselves?",
    ("c13", "When did that war begin?"): "When did the sectarian war begin?",
    (
        "c14",
        "What did that conspiracy do?",
    ): "What did the conspiracy that al-Sadr is part of do to the militias?",
    (
        "c15",
        "And after the assassination of Qassem Soleimani?",
    ): "What did al-Sadr begin to do after the assassination of Qassem Soleimani?",
    (
        "c16",
        "Which plan was that?",
    ): "Which plan was escalating on the street to change the election results?",
    ("c16", "What did they decide to switch to?"): "What did the militias decide to switch to?",
    (
        "c17",
        "Who points that out?",
    ): "Who points out that al-Sadr's call to disarm militias conflicts with Iranian interests?",
    ("c17", "What is his job?"): "What is Khawlani's job?",
    ("c18", "Until when?"): "Until when did the militias postpone targeting the American forces?",
    (
        "c18",
        "Who doubts they are serious about it?",
    ): "Who doubts the militias are serious about targeting the American forces?",
    ("c19", "Who says so?"): "Who says Muqtada al-Sadr disagrees with the consensus project?",
    ("c19", "What is his profession?"): "What is Majid al-Samarrai's profession?",
}
_ANAPHORA = re.compile(
    r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|the same)\b",
    re.IGNORECASE,
)
_PERSON = re.compile(r"\b(he|him|his|she|her)\b", re.IGNORECASE)


def previous_condensing(question: str, questions: list[str]) -> str:
    """The condensing this project used before (chain.condense_question, commit 37b88c1)."""
    from assistant.answer.parse import parse_sentences

    if not questions or len(question.split()) > 12 or not _ANAPHORA.search(question):
        return question
    (parse,) = parse_sentences([questions[-1]])
    people = [(s, e) for s, e, label in parse.entities if label == "PERSON"]
    if people and _PERSON.search(question):
        start, end = parse.char_span(*people[-1])
        name = parse.text[start:end]
        return _PERSON.sub(lambda m: f"{name}’s" if m.group(0).lower() == "his" else name, question)
    return f"{questions[-1]} {question}"


def asked_alone(items: list[EvalQuestion], *, how: str) -> list[EvalQuestion]:
    """Each turn as a row of its own: as it stands, condensed the previous way, or as
    written out by hand."""
    out, earlier = [], {}  # conversation → its questions so far
    for item in items:
        previous = earlier.setdefault(item.conversation, [])
        question = item.question
        if how == "previous" and previous:
            question = previous_condensing(item.question, previous)
        elif how == "by hand" and previous:
            question = BY_HAND[(item.conversation or "", item.question)]
        out.append(replace(item, question=question, conversation=None))
        previous.append(item.question)
    return out


def figures(rows: list[EvalRow], turns: list[int | None]) -> dict[str, object]:
    later = [r for r, turn in zip(rows, turns, strict=True) if turn]
    return summarize(later)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="Run the tuning conversations.")
    parser.add_argument("--show", action="store_true", help="Print every follow-up turn.")
    parser.add_argument("file", nargs="?", type=Path, help="Another conversations file.")
    args = parser.parse_args()
    path = args.file or (TUNING if args.tune else REPORTED)
    items = read_eval_file(path).questions
    assistant = fresh_assistant()
    resolved = run_rows(assistant, items)
    turns = [r.turn for r in resolved]
    runs = {
        "resolved (this)": resolved,
        "no history": run_rows(assistant, asked_alone(items, how="none")),
        "previous condensing": run_rows(assistant, asked_alone(items, how="previous")),
    }
    if all((i.conversation, i.question) in BY_HAND for i, t in zip(items, turns, strict=True) if t):
        runs["written out by hand (ceiling)"] = run_rows(
            assistant, asked_alone(items, how="by hand")
        )
    conversations = len({i.conversation for i in items})
    print(
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {conversations} "
        f"conversations, {sum(1 for t in turns if t)} follow-up turns"
    )
    print(f"\n| follow-up turns | {' | '.join(METRICS)} |")
    print(f"|---|{'---:|' * len(METRICS)}")
    for name, rows in runs.items():
        summary = figures(rows, turns)
        cells = []
        for key in METRICS:
            value = summary[key]
            cells.append(
                "–"
                if value is None
                else f"{value:.1f}"
                if key == "answer_words"
                else f"{value:.3f}"
            )
        print(f"| {name} | {' | '.join(cells)} |")
    # The resolver alone, per follow-up, with the answers the run gave as history, turn by
    # turn as in a chat: each conversation starts with nothing parsed.
    seconds = []
    for row in resolved:
        if row.turn == 0:
            referents._parsed.clear()
        if row.turn:
            earlier = [r for r in resolved if r.item.conversation == row.item.conversation]
            history = [Turn(r.item.question, r.answer) for r in earlier[: row.turn]]
            began = time.perf_counter()
            standalone_question(row.item.question, history)
            seconds.append(time.perf_counter() - began)
    print(
        f"\nResolving a follow-up (offline, spaCy): median "
        f"{statistics.median(seconds) * 1000:.1f} ms, max {max(seconds) * 1000:.1f} ms"
    )
    if args.show:
        for row in resolved:
            mark = "✓" if row.scores.get("answer_contains") == 1.0 else "✗"
            hit = "hit@3" if row.scores.get("hit@3") == 1.0 else "MISS@3"
            print(f"\n{row.item.conversation}.{row.turn} {mark} {hit} {row.item.question}")
            if row.standalone_question != row.item.question:
                print(f"    searched: {row.standalone_question}")
            print(f"    answer:   {row.answer[:120]}   (expected {list(row.item.answers)})")


if __name__ == "__main__":
    main()

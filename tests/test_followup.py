"""Follow-up questions: the offline resolver on hand-written histories (real spaCy), and the
chain answering the follow-up's own question over the bundled article (real model, index)."""

from __future__ import annotations

import pytest
from langchain_core.language_models import FakeListChatModel

from assistant.answer.types import REFUSAL
from assistant.chain import as_turns, llm_condenser, standalone_question
from assistant.errors import InvalidQuestionError
from assistant.followup import Turn, resolve

SADR = Turn("What did Muqtada al-Sadr demand?", "disband the loose militias [1]")


@pytest.mark.parametrize(
    ("history", "follow_up", "standalone"),
    [
        # he / she / him / her: the person named, here in the question ("Who is X?")
        (
            [Turn("Who is Khaled Hammadi?", "researcher in Iraqi affairs [1]")],
            "What does he doubt?",
            "What does Khaled Hammadi doubt?",
        ),
        (
            [Turn("Who is Margit Holm?", "a Danish journalist [1]")],
            "What did she write?",
            "What did Margit Holm write?",
        ),
        (
            [Turn("Who is Margit Holm?", "a Danish journalist [1]")],
            "Who criticised her?",
            "Who criticised Margit Holm?",
        ),
        # his: a possessive
        ([SADR], "What is his position?", "What is Muqtada al-Sadr's position?"),
        # they / their: a plural, here the previous answer
        (
            [Turn("Who is accused of the assassination attempt?", "the militias [1]")],
            "What do their leaders fear?",
            "What do the militias' leaders fear?",
        ),
        # ... and a reflexive stays: it points inside its own sentence
        (
            [Turn("Who is accused of the assassination attempt?", "the militias [1]")],
            "What will limit their ability to reproduce themselves?",
            "What will limit the militias' ability to reproduce themselves?",
        ),
        # it: the thing the previous answer is
        (
            [Turn("What happened in Basra?", "the bombing that shook Basra last Tuesday [1]")],
            "Who condemned it?",
            "Who condemned the bombing that shook Basra last Tuesday?",
        ),
        # it: what the previous question asked about, when its answer is not a thing
        ([SADR], "Who commented on it?", "Who commented on what Muqtada al-Sadr demanded?"),
        # it: the subject "What is X?" defines
        (
            [Turn("What is Plan T?", "link the pressures [1]")],
            "Who proposed it?",
            "Who proposed Plan T?",
        ),
        # do that / do it: the action the previous answer named
        (
            [Turn("What did the militias threaten to do?", "launch strikes on American sites")],
            "Why did they do it?",
            "Why did the militias launch strikes on American sites?",
        ),
        (
            [Turn("What did the militias threaten to do?", "Hammadi [1]")],  # not an action
            "Who asked them to do that?",
            "Who asked the militias to do that?",
        ),
        # there: a place
        (
            [Turn("What did Muqtada al-Sadr say about Basra?", "a political explosion [1]")],
            "What happened there?",
            "What happened in Basra?",
        ),
        (
            [Turn("What happened in Basra?", "the bombing [1]")],
            "Is there a plan?",
            "Is there a plan?",
        ),
        # that group / that force: a noun phrase with the same head, or a group
        (
            [Turn("Who formed a mass flight towards Iranian lands?", "Quds Force’s leaders [1]")],
            "Why did that group flee?",
            "Why did Quds Force’s leaders flee?",
        ),
        (
            [Turn("Who was Qassem Soleimani?", "the commander of the Iranian Quds Force [1]")],
            "What did the leaders of that force do?",
            "What did the leaders of the Iranian Quds Force do?",
        ),
        # the latter / the former: of the two people the last exchange named
        (
            [Turn("Who did Rayan al-Kildani meet with?", "Abu Ala’ al-Wala’I [1]")],
            "Which militia does the latter lead?",
            "Which militia does Abu Ala’ al-Wala’I lead?",
        ),
        (
            [Turn("Who did Rayan al-Kildani meet with?", "Abu Ala’ al-Wala’I [1]")],
            "Which militia does the former lead?",
            "Which militia does Rayan al-Kildani lead?",
        ),
        # ellipsis: the new phrase in place of the one of its kind, or a new wh-word
        (
            [Turn("What was Plan A?", "escalating on the street [1]")],
            "And Plan B?",
            "What was Plan B?",
        ),
        (
            [Turn("Who is Muqtada al-Sadr?", "the leader of the movement [1]")],
            "What about al-Maliki?",
            "Who is al-Maliki?",
        ),
        (
            [
                Turn(
                    "What did the militias postpone?",
                    "the date of targeting the American forces [1]",
                )
            ],
            "Until when?",
            "Until when did the militias postpone the date of targeting the American forces?",
        ),
    ],
)
def test_pointers_and_ellipsis_are_resolved(history, follow_up, standalone):
    assert resolve(follow_up, history) == standalone


def test_a_three_turn_chain_follows_a_name_first_given_in_an_answer():
    # "he" in turn 3 is Omar Khawlani, whom only turn 2's answer names; turn 2's own "it"
    # is resolved first, so the chain keeps its subject.
    history = [SADR, Turn("Who commented on it?", "Omar Khawlani [1]")]
    assert resolve("What does he believe will happen?", history) == (
        "What does Omar Khawlani believe will happen?"
    )
    # Two turns on, "he" is still the subject a "Who is X?" turn defined.
    history = [
        Turn("Who was Qassem Soleimani?", "the commander of the Iranian Quds Force [1]"),
        Turn("When was he assassinated?", "2020 [1]"),
    ]
    assert resolve("Where was he killed?", history) == "Where was Qassem Soleimani killed?"
    # "that group" two turns after the answer that named it
    assert resolve("What did the leaders of that force do?", history) == (
        "What did the leaders of the Iranian Quds Force do?"
    )


def test_a_question_that_needs_no_history_is_left_alone():
    history = [Turn("What is Plan T?", "link the pressures [1]")]
    for question in (
        "What is the capital of France?",  # a topic switch
        "Who leads the coordinating framework?",
        "How did al-Sadr describe the bombing in Basra?",
    ):
        assert resolve(question, history) == question
    assert resolve("Who proposed it?", []) == "Who proposed it?"


def test_refusals_and_turns_without_a_referent_change_nothing():
    refused = [Turn("What is the capital of France?", REFUSAL)]
    assert resolve("Who is he?", refused) == "Who is he?"
    # A bare question as history (no answer kept) still gives its referents.
    assert resolve("Who commented on it?", [Turn(SADR.question)]) == (
        "Who commented on what Muqtada al-Sadr demanded?"
    )


def test_history_is_read_from_turns_pairs_mappings_and_bare_questions():
    turns = as_turns(
        [
            {"question": "Who is Omar Khawlani?", "answer": "a researcher [1]"},
            ["What does he believe?", "direct confrontations [1]"],
            "Who is Majid al-Samarrai?",
            {"question": "  ", "answer": "skipped: no question"},
            Turn("q", "a"),
        ]
    )
    assert turns == [
        Turn("Who is Omar Khawlani?", "a researcher [1]"),
        Turn("What does he believe?", "direct confrontations [1]"),
        Turn("Who is Majid al-Samarrai?", ""),
        Turn("q", "a"),
    ]
    assert as_turns(None) == []
    for bad in ("What is Plan T?", [{"answer": "no question"}], [42], [["q", 3]]):
        with pytest.raises(InvalidQuestionError, match="history|turn"):
            as_turns(bad)


def test_an_llm_condenses_when_configured_and_the_resolver_stands_in_when_it_fails():
    # A fake model: what is under test is the prompt, the wiring and the fallback.
    model = FakeListChatModel(responses=["Who commented on Muqtada al-Sadr's demand?\nextra"])
    condense = llm_condenser(model)
    assert standalone_question("Who commented on it?", [SADR], condense=condense) == (
        "Who commented on Muqtada al-Sadr's demand?"
    )

    def broken(question: str, history: object) -> str:
        raise TimeoutError("the model did not answer")

    assert standalone_question("Who commented on it?", [SADR], condense=broken) == (
        "Who commented on what Muqtada al-Sadr demanded?"
    )
    # With no history the model is not asked at all.
    assert standalone_question("What is Plan T?", [], condense=broken) == "What is Plan T?"


def test_the_condense_prompt_names_history_and_question():
    from assistant.prompts import load

    prompt = load("condense", required={"history", "question"})
    text = prompt.format(history="User: What is Plan T?", question="Who proposed it?")
    assert "User: What is Plan T?" in text and text.rstrip().endswith("Standalone question:")


# --- the chain, over the bundled article ------------------------------------------------------


def test_the_follow_up_is_answered_not_the_previous_question(article_assistant):
    first = article_assistant.ask("Who is Khaled Hammadi?")
    assert "researcher in Iraqi affairs" in first.text
    follow_up = article_assistant.ask(
        "What does he doubt?", history=[Turn(first.question, first.text)]
    )
    assert follow_up.question == "What does he doubt?"
    assert follow_up.standalone_question == "What does Khaled Hammadi doubt?"
    assert "seriousness" in follow_up.text
    assert "researcher" not in follow_up.text
    # The same question with no history has nobody to ask about.
    alone = article_assistant.ask("What does he doubt?")
    assert alone.standalone_question == "What does he doubt?"
    assert "seriousness" not in alone.text


def test_ellipsis_and_a_name_from_an_earlier_answer_over_three_turns(article_assistant):
    history: list[Turn] = []
    for question, expected in [
        ("What is Plan T?", "link the pressures"),
        ("What was Plan A?", "escalating on the street"),
        ("And Plan B?", "military escalation"),
    ]:
        answer = article_assistant.ask(question, history=history)
        assert expected in answer.text, (question, answer.standalone_question, answer.text)
        history.append(Turn(answer.question, answer.text))
    assert answer.standalone_question == "What was Plan B?"
    payload = answer.to_dict()
    assert payload["question"] == "And Plan B?"
    assert payload["standalone_question"] == "What was Plan B?"


def test_the_chat_shows_what_it_searched_for_when_that_differs():
    from assistant.answer.types import Answer
    from assistant.ui_format import format_answer

    asked = Answer("Who <b>was</b> it?", REFUSAL, True, [], standalone_question="Who <b>was</b> X?")
    html = format_answer(asked)
    assert '<div class="searched">Searched for: Who &lt;b&gt;was&lt;/b&gt; X?</div>' in html
    same = Answer("What is Plan T?", REFUSAL, True, [], standalone_question="what is plan T?")
    assert "Searched for" not in format_answer(same)
    assert "Searched for" not in format_answer(Answer("What is Plan T?", REFUSAL, True, []))

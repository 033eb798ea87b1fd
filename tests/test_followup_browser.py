"""Follow-ups in the real chat (Chromium against ``app.py``) and through the ``/ask`` API.

The app runs once for the module, as in test_ui_browser.py; each test gets fresh browser
contexts, so each page is a browser session of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright import sync_api

from tests.browser_support import (
    BOT_MESSAGE,
    CHROMIUM,
    NEW_CHAT,
    AppServer,
    ask,
    chromium_browser,
    open_chat,
    save_failure_artifacts,
    serving_app,
)

expect = sync_api.expect
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason=f"{CHROMIUM} is not installed (run `make browser`)",
)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    yield from serving_app(tmp_path_factory.mktemp("followup-app"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def new_page(browser: Any, app_server: AppServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open the chat in a new browser context (a session of its own) per call."""
    contexts: list[tuple[Any, Any]] = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        open_chat(page, app_server.url)
        contexts.append((context, page))
        return page

    yield make
    report = getattr(request.node, "rep_call", None)
    for number, (context, page) in enumerate(contexts):
        if report is not None and report.failed:
            save_failure_artifacts(page, f"{request.node.nodeid}-{number}")
        context.close()


@pytest.mark.browser
@needs_chromium
def test_a_three_turn_conversation_answers_the_third_question_and_shows_its_search(new_page):
    page = new_page()
    first = ask(page, "What is al-Sadr's call to disarm the militias in conflict with?")
    expect(first).to_contain_text("Iranian interests")
    expect(first.locator(".searched")).to_have_count(0)  # a first question is searched as typed
    second = ask(page, "Who points that out?")
    expect(second.locator(".answer-text")).to_contain_text("Khawlani")
    # "his" is the man the previous *answer* named, not anyone the questions named.
    third = ask(page, "What is his job?")
    expect(third.locator(".answer-text")).to_contain_text(
        "researcher in the affairs of armed movements"
    )
    expect(third.locator(".searched")).to_have_text("Searched for: What is Khawlani's job?")


@pytest.mark.browser
@needs_chromium
def test_two_browser_sessions_hold_separate_conversations(new_page):
    hammadi, khawlani = new_page(), new_page()
    ask(hammadi, "Who is Khaled Hammadi?")
    ask(khawlani, "Who is Omar Khawlani?")
    # Asked in between the other session's turns: each "he" is its own session's man.
    doubts = ask(hammadi, "What does he doubt?")
    believes = ask(khawlani, "What does he believe will happen?")
    expect(doubts.locator(".searched")).to_have_text(
        "Searched for: What does Khaled Hammadi doubt?"
    )
    expect(doubts.locator(".answer-text")).to_contain_text("seriousness")
    expect(believes.locator(".searched")).to_have_text(
        "Searched for: What does Omar Khawlani believe will happen?"
    )
    expect(believes.locator(".answer-text")).to_contain_text("direct confrontations")
    # A new chat forgets the conversation: "he" is nobody again.
    hammadi.locator(NEW_CHAT).click()
    expect(hammadi.locator(BOT_MESSAGE)).to_have_count(0)
    again = ask(hammadi, "What does he doubt?")
    expect(again.locator(".searched")).to_have_count(0)


def test_the_ask_api_holds_a_conversation_through_its_history(app_server: AppServer):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(app_server.url, verbose=False)
    first = client.predict("Who is Khaled Hammadi?", 4, None, api_name="/ask")
    assert first["standalone_question"] == "Who is Khaled Hammadi?"
    history = [{"question": first["question"], "answer": first["answer"]}]
    follow_up = client.predict("What does he doubt?", 4, history, api_name="/ask")
    assert follow_up["question"] == "What does he doubt?"
    assert follow_up["standalone_question"] == "What does Khaled Hammadi doubt?"
    assert "seriousness" in follow_up["answer"]
    # Without the history the same question is searched as it stands.
    alone = client.predict("What does he doubt?", 4, api_name="/ask")
    assert alone["standalone_question"] == "What does he doubt?"
    assert "seriousness" not in alone["answer"]
    with pytest.raises(AppError, match="history"):
        client.predict("What does he doubt?", 4, "Who is Khaled Hammadi?", api_name="/ask")


def test_the_ask_api_over_plain_http_takes_the_history_as_its_third_value(
    app_server: AppServer,
):
    import json
    import urllib.request

    base = f"{app_server.url}gradio_api/call/ask"
    history = [{"question": "Who is Khaled Hammadi?", "answer": "researcher in Iraqi affairs [1]"}]
    request = urllib.request.Request(
        base,
        data=json.dumps({"data": ["What does he doubt?", 4, history]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        event_id = json.load(reply)["event_id"]
    with urllib.request.urlopen(f"{base}/{event_id}", timeout=60) as reply:
        stream = reply.read().decode()
    (data,) = [json.loads(line[5:]) for line in stream.splitlines() if line.startswith("data:")]
    assert data[0]["standalone_question"] == "What does Khaled Hammadi doubt?"
    assert "seriousness" in data[0]["answer"]

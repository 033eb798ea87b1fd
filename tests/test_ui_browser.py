"""The chat in a real browser: Playwright drives Debian's Chromium against the real app.

The app is started once per module (``app.py`` in a subprocess, over a temporary index built
from the bundled article plus a document holding literal HTML). Each test gets a fresh browser
context; when a test fails, a screenshot and the page's HTML go to ``test-artifacts/``.

Run with ``pytest -m browser``; outside CI, skipped when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright import sync_api  # noqa: E402 - a dev dependency: missing means a broken install

from tests.browser_support import (
    BOT_MESSAGE,
    CHAT,
    CHROMIUM,
    IMG_TEXT,
    K_SLIDER,
    NEW_CHAT,
    QUESTION_BOX,
    ROOT,
    SCRIPT_TEXT,
    SEND,
    TOAST,
    USER_MESSAGE,
    ZORBLAT_QUESTION,
    AppServer,
    ask,
    chromium_browser,
    covering_element,
    open_chat,
    save_failure_artifacts,
    serving_app,
    wait_for_scroll_to_settle,
)

expect = sync_api.expect

# `make test` installs Chromium, so in CI a missing browser is a failure, not a skip.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason=f"{CHROMIUM} is not installed (run `make browser`)",
    ),
]

ARTICLE = ROOT / "corpus" / "iran-militias-iraq-plan-t.txt"
ARTICLE_TITLE = ARTICLE.read_text(encoding="utf-8").splitlines()[0].strip()
PLAN_T_SECTION = "Plan T… Escape forward and return to the first allegation"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    yield from serving_app(tmp_path_factory.mktemp("browser-app"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def context_options() -> dict[str, Any]:
    return {"viewport": {"width": 1280, "height": 720}}


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of every alert/confirm/prompt the page opened (each is dismissed)."""
    return []


@pytest.fixture
def page(
    browser: Any,
    app_server: AppServer,
    context_options: dict[str, Any],
    dialogs: list[str],
    request: pytest.FixtureRequest,
) -> Iterator[Any]:
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_chat(page, app_server.url)
    yield page
    # ``rep_call`` is set by the pytest_runtest_makereport hook in tests/conftest.py.
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        saved = save_failure_artifacts(page, request.node.nodeid)
        print("saved " + ", ".join(str(p.relative_to(ROOT)) for p in saved))
    context.close()


# --- tests ----------------------------------------------------------------------------------


def test_answer_cites_its_passage_and_the_marker_shows_it(page: Any) -> None:
    # Two earlier questions first, so that the chat scrolls: the passage of the newest answer
    # can then be out of sight while its marker is in view (as when reading back a long chat).
    ask(page, "What did Muqtada al-Sadr demand?")
    ask(page, "Who is Khaled Hammadi?")
    message = ask(page, "What is Plan T?", how="enter")

    answer = message.locator(".answer-text")
    expect(answer).to_be_visible()
    expect(answer).to_contain_text("[1]")
    marker = answer.locator("a.cite", has_text="[1]")
    expect(marker).to_have_count(1)

    source = message.locator(".source").first
    expect(source).to_be_visible()
    head = source.locator(".source-head")
    expect(head).to_contain_text(ARTICLE_TITLE)
    expect(head).to_contain_text(PLAN_T_SECTION)
    expect(head).to_contain_text("paragraph 5")
    quote = source.locator(".source-text mark")
    expect(quote.first).to_be_visible()
    expect(quote.first).to_contain_text("link the pressures")
    # The answer is the phrase, and the phrase is marked inside the highlighted sentence.
    phrase = quote.first.locator("strong.answer-span")
    expect(phrase).to_have_count(1)
    answer_phrase = answer.inner_text().rsplit("[1]", 1)[0].strip()
    assert answer_phrase and len(answer_phrase.split()) <= 20, answer_phrase
    expect(phrase).to_have_text(answer_phrase)

    # The marker points at this passage (and the passage's id is unique on the page).
    target_id = source.get_attribute("id")
    assert target_id and re.fullmatch(r"src-\d+-1", target_id), target_id
    assert marker.get_attribute("href") == f"#{target_id}"
    assert page.locator(f"[id='{target_id}']").count() == 1
    # ``message`` means "the latest answer": pin this answer's marker and passage by id.
    source = page.locator(f"[id='{target_id}']")
    marker = page.locator(f"{CHAT} a.cite[href='#{target_id}']")
    expect(marker).to_have_count(1)

    # Bring the marker to the bottom edge of the view (once Gradio's own scroll to the newest
    # message is over): the passage, just below it, is out of sight.
    wait_for_scroll_to_settle(marker)
    marker.evaluate("el => el.scrollIntoView({block: 'end'})")
    expect(marker).to_be_in_viewport()
    expect(source).not_to_be_in_viewport()
    url_before = page.url
    pages_before = len(page.context.pages)

    marker.click()

    expect(source).to_have_class(re.compile(r"\bflash\b"), timeout=1_000)
    assert source.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    expect(source).to_be_in_viewport(ratio=0.5)
    expect(source).not_to_have_class(re.compile(r"\bflash\b"), timeout=5_000)
    # The click handler takes over: no navigation, no new tab.
    assert page.url == url_before
    assert len(page.context.pages) == pages_before


def test_question_outside_the_documents_is_refused(page: Any) -> None:
    message = ask(page, "What is the capital of France?")

    refusal = message.locator(".refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text(re.compile(r"documents don.t cover", re.IGNORECASE))
    expect(message.locator(".source")).to_have_count(0)
    expect(message.locator(".answer-text")).to_have_count(0)


def test_empty_question_shows_an_error_without_a_traceback(page: Any) -> None:
    page.locator(QUESTION_BOX).fill("   ")
    page.locator(SEND).click()

    toast = page.locator(TOAST)
    expect(toast).to_be_visible()
    expect(toast).to_contain_text(re.compile(r"question is empty", re.IGNORECASE))
    # Nothing was added to the conversation.
    expect(page.locator(USER_MESSAGE)).to_have_count(0)
    expect(page.locator(BOT_MESSAGE)).to_have_count(0)
    visible_text = page.locator("body").inner_text()
    html = page.content()
    for leak in ("Traceback", 'File "'):
        assert leak not in visible_text, f"{leak!r} shown on the page"
        assert leak not in html, f"{leak!r} in the page's HTML"


def test_error_leaves_the_conversation_readable_and_the_box_usable(page: Any) -> None:
    message = ask(page, "What is Plan T?")
    answer = message.locator(".answer-text")
    expect(answer).to_be_visible()

    page.locator(QUESTION_BOX).fill("   ")
    page.locator(SEND).click()
    expect(page.locator(TOAST)).to_contain_text(re.compile(r"question is empty", re.I))

    # The earlier answer must still be readable: nothing drawn over it ...
    answer.scroll_into_view_if_needed()
    assert covering_element(page, f"{CHAT} .answer-text") is None, (
        "the answer is hidden behind: " + str(covering_element(page, f"{CHAT} .answer-text"))
    )
    # ... and the question box must take a click so the person can correct the question.
    assert covering_element(page, QUESTION_BOX) is None, "the question box is covered by: " + str(
        covering_element(page, QUESTION_BOX)
    )
    page.locator(QUESTION_BOX).click(timeout=3_000)
    expect(page.locator(QUESTION_BOX)).to_be_focused()


def test_document_html_is_shown_as_text_never_run(page: Any, dialogs: list[str]) -> None:
    message = ask(page, ZORBLAT_QUESTION)

    expect(message.locator(".answer-text")).to_be_visible()
    source_text = message.locator(".source .source-text").first
    expect(source_text).to_contain_text(SCRIPT_TEXT)
    expect(source_text).to_contain_text(IMG_TEXT)
    chat_text = page.locator(CHAT).inner_text()
    assert SCRIPT_TEXT in chat_text and IMG_TEXT in chat_text

    expect(page.locator(f"{CHAT} script")).to_have_count(0)
    expect(page.locator(f"{CHAT} img[onerror]")).to_have_count(0)
    expect(page.locator(f"{CHAT} img[src='x']")).to_have_count(0)
    page.wait_for_timeout(500)  # give an injected handler time to fire
    assert dialogs == []


def test_new_chat_clears_the_conversation(page: Any) -> None:
    ask(page, "What is Plan T?")
    expect(page.locator(BOT_MESSAGE)).to_have_count(1)
    expect(page.locator(USER_MESSAGE)).to_have_count(1)

    page.locator(NEW_CHAT).click()

    expect(page.locator(BOT_MESSAGE)).to_have_count(0)
    expect(page.locator(USER_MESSAGE)).to_have_count(0)
    expect(page.locator(f"{CHAT} .source")).to_have_count(0)
    expect(page.locator(CHAT)).not_to_contain_text("What is Plan T?")
    expect(page.locator(CHAT)).not_to_contain_text("Sources")
    # The empty conversation shows the chatbot's placeholder again (whatever its wording).
    expect(page.locator(f"{CHAT} .placeholder-content")).to_be_visible()
    expect(page.locator(QUESTION_BOX)).to_have_value("")


@pytest.mark.parametrize("context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_phone_width_has_no_horizontal_scroll(page: Any) -> None:
    message = ask(page, "What is Plan T?")
    expect(message.locator(".source").first).to_be_visible()
    expect(message.locator(".source-text mark").first).to_be_visible()

    sizes = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert sizes["scroll"] <= sizes["inner"], sizes


# --- Documents tab, settings and the HTTP API ------------------------------------------------


def test_uploaded_document_is_answered_from_and_can_be_removed(page: Any, tmp_path: Any) -> None:
    document = tmp_path / "quokka-report.txt"
    document.write_text(
        "The Quokka Report\n\nThe quokka census of Rottnest Island counted 11,873 quokkas "
        "in 2025, a rise of four percent.\n"
    )
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(str(document))
    expect(page.locator("#upload-status")).to_contain_text(
        "quokka-report.txt: 1 passages added", timeout=60_000
    )
    expect(page.locator("#documents")).to_contain_text("quokka-report.txt")

    page.get_by_role("tab", name="Chat").click()
    reply = ask(page, "How many quokkas did the Rottnest Island census count?")
    expect(reply.locator(".answer-text")).to_contain_text("11,873")
    expect(reply.locator(".source-head").first).to_contain_text("quokka-report.txt")

    page.get_by_role("tab", name="Documents").click()
    page.locator("#remove-choice input").click()
    page.get_by_role("option", name=re.compile(r"quokka-report\.txt")).click()
    page.locator("#remove").click()
    expect(page.locator("#upload-status")).to_contain_text("Removed quokka-report.txt")
    expect(page.locator("#documents")).not_to_contain_text("quokka-report.txt")

    page.get_by_role("tab", name="Chat").click()
    gone = ask(page, "How many quokkas did the Rottnest Island census count?")
    expect(gone.locator(".refusal")).to_be_visible()


def test_unsupported_upload_is_refused_with_the_formats(page: Any, tmp_path: Any) -> None:
    odd = tmp_path / "table.csv"
    odd.write_text("a,b\n1,2\n")
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(str(odd))
    expect(page.locator("#upload-status")).to_contain_text("not supported", timeout=30_000)
    expect(page.locator("#documents")).not_to_contain_text("table.csv")


def test_k_and_scores_settings_change_the_answer(page: Any) -> None:
    # An answer quotes at most ``k`` passages. With the default k (4) this answer quotes
    # several; the slider, moved in the browser, makes the same question quote one, then two.
    question = "What does Hammadi say about the militias?"
    page.locator("#settings").get_by_text("Settings").click()
    page.get_by_label("Show retrieval scores").check()
    slider = page.locator(f"{K_SLIDER} input[type=range]")
    shown = page.locator(f"{K_SLIDER} input[type=number]")
    expect(shown).to_have_value("4")

    wide = ask(page, question)
    expect(wide.locator(".source").nth(1)).to_be_visible()  # at least two passages quoted
    assert wide.locator(".source").count() <= 4
    expect(wide.locator(".scores").first).to_contain_text("dense")
    expect(wide.locator(".scores").first).to_contain_text("bm25")

    slider.focus()
    slider.press("Home")  # the slider's minimum: k = 1
    expect(shown).to_have_value("1")
    narrow = ask(page, question)
    expect(narrow.locator(".source")).to_have_count(1)
    narrow_answer = narrow.locator(".answer-text").inner_text()
    # One passage: the answer cites it alone (the phrase itself may be the same as with
    # four, when the best phrase is in the first passage).
    assert "[1]" in narrow_answer and not re.search(r"\[[2-9]\]", narrow_answer)
    expect(narrow.locator(".scores")).to_have_count(1)

    slider.press("ArrowRight")  # k = 2
    expect(shown).to_have_value("2")
    expect(ask(page, question).locator(".source")).to_have_count(2)


def test_gradio_client_gets_the_same_json_as_the_cli(app_server: AppServer) -> None:
    import json
    import subprocess
    import sys

    from gradio_client import Client

    from_api = Client(app_server.url, verbose=False).predict("What is Plan T?", 4, api_name="/ask")
    from_cli = json.loads(
        subprocess.run(
            [sys.executable, "-m", "assistant.cli", "ask", "--json", "What is Plan T?"],
            env={**os.environ, **app_server.env},
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
    )
    assert set(from_api) == set(from_cli)
    for key in ("question", "answer", "refused", "citations"):
        assert from_api[key] == from_cli[key], key
    assert set(from_api["timings_ms"]) == {"retrieve", "answer", "total"}

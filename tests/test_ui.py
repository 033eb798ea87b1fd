from assistant.answer.types import Answer, Citation
from assistant.ui_format import format_answer


def _answer(text: str, passage: str, quote: str) -> Answer:
    start = passage.index(quote)
    citation = Citation(
        n=1,
        source="evil.txt",
        title="<b>T</b>",
        section="S",
        paragraph=2,
        text=passage,
        quote=quote,
        quote_spans=[(start, start + len(quote))],
    )
    return Answer("q", f"{text} [1]", False, [citation])


def test_document_text_is_escaped_and_the_quote_highlighted():
    passage = "Before. <script>alert(1)</script> is the <img src=x onerror=alert(1)> answer. After."
    html = format_answer(
        _answer(
            "<script>alert(1)</script> is the answer.",
            passage,
            "<script>alert(1)</script> is the <img src=x onerror=alert(1)> answer.",
        )
    )
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>&lt;script&gt;" in html
    assert "&lt;b&gt;T&lt;/b&gt;" in html
    assert 'class="cite" href="#src-' in html
    assert "\n\n" not in html  # a blank line would end Gradio's HTML block


def test_refusal_is_shown_as_a_refusal_not_an_error():
    html = format_answer(Answer("q", "The documents don't cover this question.", True, []))
    assert 'class="refusal"' in html and "source" not in html


def test_the_answering_phrase_is_marked_inside_the_highlighted_sentence():
    passage = "Intro. Plan T links the <pressures> on Iraq. Outro."
    quote = "Plan T links the <pressures> on Iraq."
    start = passage.index(quote)
    phrase = passage.index("the <pressures>")
    citation = Citation(
        n=1,
        source="a.txt",
        title="T",
        section="",
        paragraph=1,
        text=passage,
        quote=quote,
        quote_spans=[(start, start + len(quote))],
        answer_spans=[(phrase, phrase + len("the <pressures>"))],
    )
    html = format_answer(Answer("What does Plan T link?", "the <pressures> [1]", False, [citation]))
    assert (
        '<mark>Plan T links <strong class="answer-span">the &lt;pressures&gt;</strong>'
        " on Iraq.</mark>" in html
    )
    # The pieces put the passage back together, each marked where it belongs.
    pieces = citation.pieces()
    assert "".join(text for text, _, _ in pieces) == passage
    assert [text for text, quoted, answer in pieces if answer] == ["the <pressures>"]
    assert all(quoted for _, quoted, answer in pieces if answer)

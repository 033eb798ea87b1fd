from assistant.text import split_sentences, tokenize


def test_sentences_carry_offsets_into_the_text():
    text = "Mr. Smith went to Washington. He met the U.S. envoy! Did it help? “Yes,” he said."
    spans = split_sentences(text)
    assert [s.text for s in spans] == [
        "Mr. Smith went to Washington.",
        "He met the U.S. envoy!",
        "Did it help?",
        "“Yes,” he said.",
    ]
    for span in spans:
        assert text[span.start : span.end] == span.text


def test_a_closing_quote_stays_with_its_sentence():
    text = "He called it a “political explosion.” Then he left."
    assert [s.text for s in split_sentences(text)] == [
        "He called it a “political explosion.”",
        "Then he left.",
    ]


def test_tokenize_keeps_single_letters_and_stems():
    assert tokenize("What is Plan T?") == ["plan", "t"]
    assert tokenize("The militias’ tendencies") == ["militia", "tendenc"]

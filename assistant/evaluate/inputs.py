"""Read evaluation questions: JSONL, CSV, or SQuAD JSON (v1.1 / v2.0, plain or zipped).

A row has a ``question`` and, where known, ``answers`` (any of them counts), ``evidence``
(text that stands in the gold passage), ``source`` (the gold document) and ``unanswerable``.
Rows sharing a ``conversation`` id (a string or a number) are the turns of one conversation,
in file order: each is asked as a follow-up to the ones before it.
A SQuAD file also brings its paragraphs (``EvalInput.passages``; :mod:`assistant.evaluate.squad`
indexes them into a collection of their own); each question's gold passage is its own paragraph.

Problems with single rows (a malformed JSONL line, an empty question, an unknown column) are
collected as warnings (``EvalInput.warnings``) with their line numbers and the other rows are
read; problems with the file as a whole (empty, no ``question`` column, unknown format) raise
:class:`EvalInputError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from assistant.errors import AssistantError

KNOWN_COLUMNS = frozenset(
    {"question", "answers", "evidence", "source", "unanswerable", "id", "conversation"}
)
_SQUAD_LAYOUT = 2
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f", ""})
# json.loads recurses once per level of nesting, so a line of 100,000 "[" would end the run
# with a RecursionError (and its traceback); it is caught and the line rejected instead.
_TOO_DEEP = "nested too deeply, more than Python's recursion limit of about 1,000 levels"


class EvalInputError(AssistantError):
    """The evaluation file cannot be used as a whole (empty, no questions, unknown format)."""


@dataclass(frozen=True)
class EvalQuestion:
    """One question to evaluate, with whatever is known about its right answer."""

    question: str
    answers: tuple[str, ...] = ()
    evidence: str | None = None
    source: str | None = None
    unanswerable: bool = False
    #: The exact text of the gold passage (SQuAD: the question's paragraph).
    gold_passage: str | None = None
    #: The row's line in the file (JSONL, CSV; the last line of a multi-line CSV record).
    line: int | None = None
    #: The row's ``id`` column, or its SQuAD question id.
    id: str | None = None
    #: The conversation the row is a turn of (rows sharing it are asked in file order).
    conversation: str | None = None

    @property
    def has_gold(self) -> bool:
        """Whether a retrieved passage can be judged gold or not for this row."""
        return bool(self.evidence or self.source or self.gold_passage)


@dataclass
class EvalInput:
    """The rows of an evaluation file, and for SQuAD the paragraphs to index."""

    path: Path
    format: str
    questions: list[EvalQuestion]
    warnings: list[str] = field(default_factory=list)
    #: SQuAD only: one Document per paragraph, ``source`` = ``squad/<article title>``.
    passages: list[Document] | None = None
    #: SQuAD only: a digest of the paragraphs, naming the collection they are indexed into.
    digest: str | None = None


def read_eval_file(path: Path | str) -> EvalInput:
    """Read ``path`` by its extension (.jsonl, .csv, .json, .zip); see the module docstring.

    Raises:
        EvalInputError: the file is empty, holds no readable question, or is of an unknown
            format.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return read_squad(path)
    if suffix not in (".jsonl", ".ndjson", ".csv", ".json"):
        raise EvalInputError(
            f"{path.name}: unknown format {suffix or '(no extension)'!r}; use .jsonl or .csv "
            "rows with a `question` column, or a SQuAD .json (optionally .zip)."
        )
    text = _read_text(path)
    if not text.strip():
        raise EvalInputError(f"{path.name} is empty: there are no questions to evaluate.")
    if suffix == ".json":
        return read_squad(path, text=text)
    warnings: list[str] = []
    if suffix == ".csv":
        questions = _read_csv(path, text, warnings)
    else:
        questions = _read_jsonl(path, text, warnings)
    if not questions:
        raise EvalInputError(
            f"{path.name} holds no usable question: every row needs a non-empty `question`."
            + (f" ({len(warnings)} rows were rejected; first: {warnings[0]})" if warnings else "")
        )
    return EvalInput(path, suffix.lstrip("."), questions, warnings)


def read_squad(path: Path, *, text: str | None = None) -> EvalInput:
    """Read a SQuAD v1.1 / v2.0 file (or a zip holding one): its questions and paragraphs."""
    try:
        if text is None:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".json")]
                if len(names) != 1:
                    raise EvalInputError(
                        f"{path.name} should hold exactly one SQuAD .json file, not {len(names)}."
                    )
                text = archive.read(names[0]).decode("utf-8")
        data = json.loads(text)
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalInputError(f"{path.name} is not readable SQuAD JSON ({exc}).") from exc
    except RecursionError as exc:
        raise EvalInputError(f"{path.name} is not readable SQuAD JSON ({_TOO_DEEP}).") from exc
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise EvalInputError(
            f"{path.name} is not SQuAD JSON (no top-level `data` list of articles); for your "
            "own questions use .jsonl or .csv rows with a `question` column."
        )
    questions: list[EvalQuestion] = []
    passages: list[Document] = []
    # The passage layout's version is part of the digest: passages made differently go to a
    # fresh collection instead of being mixed with the old ones.
    digest = hashlib.sha256(f"squad-passages-{_SQUAD_LAYOUT}\x00".encode())
    try:
        for article in data["data"]:
            title = str(article.get("title", "untitled"))
            source = f"squad/{title}"
            offset = 0
            for number, paragraph in enumerate(article.get("paragraphs", []), start=1):
                context = paragraph["context"]
                digest.update(f"{title}\x00{context}\x00".encode())
                passages.append(
                    Document(
                        page_content=context,
                        metadata={
                            "source": source,
                            "title": title.replace("_", " "),
                            "section": "",
                            "paragraph": number,
                            "start": offset,
                            "end": offset + len(context),
                            # One indexing group per paragraph: LangChain's incremental cleanup
                            # deletes (and re-embeds) a group's passages that fall in a later
                            # batch than its first, so an article-wide group would be partly
                            # re-embedded on every run.
                            "doc_key": f"{source}#{number}",
                        },
                    )
                )
                offset += len(context) + 2
                for qa in paragraph.get("qas", []):
                    answers = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                    questions.append(
                        EvalQuestion(
                            question=qa["question"],
                            answers=answers,
                            source=source,
                            unanswerable=bool(qa.get("is_impossible", False)),
                            gold_passage=context,
                            id=qa.get("id"),
                        )
                    )
    except (KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise EvalInputError(
            f"{path.name} is malformed SQuAD ({type(exc).__name__}: {exc}): every paragraph "
            "needs a `context` and every question a `question`."
        ) from exc
    if not questions:
        raise EvalInputError(f"{path.name} holds no SQuAD questions.")
    version = str(data.get("version", "")).lstrip("v") or "?"
    return EvalInput(path, f"squad-{version}", questions, [], passages, digest.hexdigest()[:16])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvalInputError(f"{path.name} is not UTF-8 text ({exc}).") from exc


def _read_jsonl(path: Path, text: str, warnings: list[str]) -> list[EvalQuestion]:
    questions: list[EvalQuestion] = []
    unknown: set[str] = set()
    objects = 0
    seen_question_key = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            _warn(warnings, f"{path.name} line {number}: not valid JSON ({exc.msg}); skipped")
            continue
        except RecursionError:
            _warn(warnings, f"{path.name} line {number}: not readable JSON ({_TOO_DEEP}); skipped")
            continue
        if not isinstance(record, dict):
            _warn(warnings, f"{path.name} line {number}: not a JSON object; skipped")
            continue
        objects += 1
        seen_question_key |= "question" in record
        unknown.update(set(record) - KNOWN_COLUMNS)
        row = _row(record, number, path, warnings)
        if row is not None:
            questions.append(row)
    if not objects:
        raise EvalInputError(f"{path.name} has no readable JSON line ({warnings[0]}).")
    if not seen_question_key:
        raise EvalInputError(f"{path.name} has no `question` field in any row.")
    _warn_unknown(unknown, path, warnings)
    return questions


def _read_csv(path: Path, text: str, warnings: list[str]) -> list[EvalQuestion]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip() for f in reader.fieldnames or []]
    except csv.Error as exc:
        raise EvalInputError(f"{path.name} is not readable CSV ({exc}).") from exc
    if "question" not in fields:
        raise EvalInputError(
            f"{path.name} has no `question` column (its header is {', '.join(fields) or 'empty'})."
        )
    _warn_unknown(set(fields) - KNOWN_COLUMNS, path, warnings)
    questions: list[EvalQuestion] = []
    try:
        for record in reader:
            number = reader.line_num
            cleaned = {(k or "").strip(): v for k, v in record.items() if k is not None}
            row = _row(cleaned, number, path, warnings)
            if row is not None:
                questions.append(row)
    except csv.Error as exc:
        _warn(warnings, f"{path.name} line {reader.line_num}: {exc}; the rest is skipped")
    return questions


def _row(
    record: dict[str, Any], number: int, path: Path, warnings: list[str]
) -> EvalQuestion | None:
    try:
        return _checked_row(record, number, path, warnings)
    except RecursionError:  # a value nested just under json's limit, then printed with str()
        _warn(warnings, f"{path.name} line {number}: {_TOO_DEEP}; skipped")
        return None


def _checked_row(
    record: dict[str, Any], number: int, path: Path, warnings: list[str]
) -> EvalQuestion | None:
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        _warn(warnings, f"{path.name} line {number}: no question; skipped")
        return None
    try:
        answers = _answers(record.get("answers"))
        unanswerable = _flag(record.get("unanswerable"))
        conversation = _conversation(record.get("conversation"))
    except ValueError as exc:
        _warn(warnings, f"{path.name} line {number}: {exc}; skipped")
        return None
    evidence = _optional_text(record.get("evidence"))
    source = _optional_text(record.get("source"))
    row_id = _optional_text(record.get("id"))
    return EvalQuestion(
        question.strip(),
        answers,
        evidence,
        source,
        unanswerable,
        line=number,
        id=row_id,
        conversation=conversation,
    )


def _conversation(value: Any) -> str | None:
    """A conversation id: a string or a number (``3`` and ``"3"`` are the same one)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"`conversation` must be a string or a number, not {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            return str(value)
        value = int(value)
    return str(value).strip()


def _answers(value: Any) -> tuple[str, ...]:
    """A list of strings; in CSV a JSON list (``["a", "b"]``) or ``a|b``."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"`answers` is not a JSON list ({exc.msg})") from exc
        else:
            value = text.split("|")
    if not isinstance(value, list) or not all(isinstance(a, str | int | float) for a in value):
        raise ValueError("`answers` must be a list of strings")
    return tuple(dict.fromkeys(str(a).strip() for a in value if str(a).strip()))


def _flag(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"`unanswerable` must be true or false, not {value!r}")


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _warn_unknown(unknown: set[str], path: Path, warnings: list[str]) -> None:
    if unknown:
        _warn(warnings, f"{path.name}: ignoring unknown column(s): {', '.join(sorted(unknown))}")


def _warn(warnings: list[str], message: str) -> None:
    warnings.append(message)

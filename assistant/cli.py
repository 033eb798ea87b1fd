"""The ``assistant`` command: index, ask, chat, sources, remove, eval, serve.

Results go to stdout, progress and errors to stderr.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from assistant.config import Settings
from assistant.errors import AssistantError

F = TypeVar("F", bound=Callable[..., Any])


def _friendly_errors(command: F) -> F:
    """Show AssistantError as a one-line message (exit 1) instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AssistantError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _settings(ctx: click.Context, **options: Any) -> Settings:
    """The settings read at start-up, with the options the user gave (``None``: not given)."""
    settings: Settings = ctx.obj
    return settings.with_overrides(**{k: v for k, v in options.items() if v is not None})


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, on stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Ask questions of your articles and get answers that cite their passages.

    Settings come from ASSISTANT_* environment variables (see the README).
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        ctx.obj = Settings()
    except Exception as exc:  # pydantic's ValidationError lists every bad variable
        raise click.ClickException(f"Invalid ASSISTANT_* setting: {exc}") from exc


@cli.command("index")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--rebuild", is_flag=True, help="Delete the index first and embed everything again.")
@click.option(
    "--yes", is_flag=True, help="Confirm --rebuild against a Chroma server (ASSISTANT_CHROMA_URL)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.pass_context
@_friendly_errors
def index_command(
    ctx: click.Context, paths: tuple[Path, ...], rebuild: bool, yes: bool, as_json: bool
) -> None:
    """Index documents (default: the corpus folder); only what changed is embedded again."""
    from assistant.assemble import make_embeddings, store_location
    from assistant.index import index_paths

    settings = _settings(ctx)
    if rebuild and settings.chroma_url and not yes:
        raise click.ClickException(
            f"--rebuild deletes this model's collection on the Chroma server "
            f"{settings.chroma_url} (for everyone who uses it) and embeds every document "
            "again. Add --yes to do it."
        )
    targets = list(paths) or [settings.corpus_dir]
    report = index_paths(
        targets,
        location=store_location(settings),
        embeddings=make_embeddings(settings),
        rebuild=rebuild,
        lock_timeout_s=settings.lock_timeout_s,
        max_file_mb=settings.max_file_mb,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(
            f"{report.added} added, {report.updated} updated, {report.skipped} skipped, "
            f"{report.deleted} deleted in {report.seconds:.1f} s "
            f"({store_location(settings).describe()})"
        )
        for warning in report.warnings:
            click.echo(f"warning: {warning['source']}: {warning['warning']}", err=True)
        for failure in report.failed:
            click.echo(f"failed: {failure['source']}: {failure['error']}", err=True)
    if report.failed:
        ctx.exit(1)


@cli.command("ask")
@click.argument("question")
@click.option("-k", "top_k", type=click.IntRange(1, 50), help="Passages to retrieve.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--stream",
    is_flag=True,
    help="With an LLM (ASSISTANT_LLM), print each sentence as soon as it is checked (with "
    "--json: one JSON line per sentence shown or dropped, then the answer).",
)
@click.pass_context
@_friendly_errors
def ask_command(
    ctx: click.Context, question: str, top_k: int | None, as_json: bool, stream: bool
) -> None:
    """Answer QUESTION from the indexed documents, citing the passages it quotes."""
    from assistant.chain import check_question

    settings = _settings(ctx, top_k=top_k)
    check_question(question, max_chars=settings.max_question_chars)  # fail before loading
    assistant = _open_or_build(settings)
    streamed = False
    if stream:
        answer, streamed = _ask_streaming(assistant, question, as_json=as_json)
    else:
        answer = assistant.ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    note = getattr(answer, "note", None)
    if note:  # why the extractive answer stands in, or why the answer stops short
        click.echo(f"note: {note}", err=True)
    if streamed:
        _echo_citations(answer)
    else:
        _echo_answer(answer)


def _echo_answer(answer: Any) -> None:
    """An answer as `ask` and `chat` print it: the text, then each cited passage's quote."""
    click.echo(answer.text)
    _echo_citations(answer)


def _echo_citations(answer: Any) -> None:
    for c in answer.citations:
        click.echo(f"\n[{c.n}] {', '.join(c.where())} ({c.source})\n    “{_quote(c)}”")


_CHAT_HELP = (
    "/new starts a new conversation, /sources shows the last answer's sources, Ctrl-D quits."
)


@cli.command("chat")
@click.option("-k", "top_k", type=click.IntRange(1, 50), help="Passages to retrieve.")
@click.pass_context
@_friendly_errors
def chat_command(ctx: click.Context, top_k: int | None) -> None:
    """Hold a conversation about the indexed documents in the terminal.

    Follow-ups may point back at earlier questions and answers ("Who commented on it?");
    what was searched for is shown when it differs from what you typed. Line editing and
    the history of what you typed work as in a shell.
    """
    from assistant.followup import Turn

    # input() edits lines and keeps their history with readline (not on every platform).
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401
    settings = _settings(ctx, top_k=top_k)
    assistant = _open_or_build(settings)
    interactive = sys.stdin.isatty()
    history: list[Turn] = []
    last = None
    click.echo(f"Ask about the documents. {_CHAT_HELP}", err=True)
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            click.echo("", err=True)
            return
        except KeyboardInterrupt:  # Ctrl-C drops the line being typed, as in a shell
            click.echo("", err=True)
            continue
        text = line.strip()
        if not text:
            continue
        if text == "/new":
            history, last = [], None
            click.echo("New conversation.", err=True)
        elif text == "/sources":
            if last is None:
                click.echo("No answer yet: ask a question first.", err=True)
            elif not last.citations:
                click.echo("The last answer cites no sources.", err=True)
            else:
                _echo_citations(last)
        elif text in ("/help", "/?"):
            click.echo(_CHAT_HELP, err=True)
        elif text.startswith("/") and " " not in text:
            click.echo(f"Unknown command {text}. {_CHAT_HELP}", err=True)
        else:
            try:
                last = assistant.ask(text, history=history)
            except AssistantError as exc:
                click.echo(f"Error: {exc}", err=True)
                continue
            if last.standalone_question.casefold().split() != text.casefold().split():
                click.echo(click.style(f"(searched for: {last.standalone_question})", dim=True))
            note = getattr(last, "note", None)
            if note:  # as `ask` says it: why the extractive answer stands in for the LLM's
                click.echo(f"note: {note}", err=True)
            _echo_answer(last)
            history.append(Turn(last.question, last.text))
        click.echo("")


@cli.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list on stdout.")
@click.pass_context
@_friendly_errors
def sources_command(ctx: click.Context, as_json: bool) -> None:
    """List the indexed documents, their passage counts and when they were indexed."""
    from assistant.assemble import make_embeddings, store_location
    from assistant.sources import list_sources

    settings = _settings(ctx)
    sources = list_sources(store_location(settings), make_embeddings(settings))
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in sources], ensure_ascii=False))
        return
    if not sources:
        click.echo("No documents indexed yet; run `assistant index`.")
    for s in sources:
        click.echo(f"{s.source}\t{s.passages} passages\tindexed {s.indexed_at}\t{s.title}")


@cli.command("remove")
@click.argument("source")
@click.pass_context
@_friendly_errors
def remove_command(ctx: click.Context, source: str) -> None:
    """Remove the document SOURCE (as `assistant sources` shows it) from the index."""
    from assistant.assemble import make_embeddings, store_location
    from assistant.sources import remove_source

    settings = _settings(ctx)
    removed = remove_source(
        store_location(settings),
        make_embeddings(settings),
        source,
        lock_timeout_s=settings.lock_timeout_s,
    )
    click.echo(f"Removed {source}: {removed} passages.")


@cli.command("serve")
@click.option("--host", help="Address to bind (default 127.0.0.1, or ASSISTANT_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 7860).")
@click.option(
    "--no-auth",
    is_flag=True,
    help="Serve on an address other than loopback without ASSISTANT_AUTH (trusted networks).",
)
@click.pass_context
@_friendly_errors
def serve_command(ctx: click.Context, host: str | None, port: int | None, no_auth: bool) -> None:
    """Open the chat in the browser (Gradio), over the indexed documents.

    On an address other than loopback (such as --host 0.0.0.0) the chat asks for the
    ASSISTANT_AUTH=user:password sign-in; without it, serving is refused unless --no-auth.
    """
    from assistant.access import serving_access
    from assistant.errors import ConfigError
    from assistant.ui import launch

    settings = _settings(ctx, host=host, port=port)
    try:
        serving_access(settings, no_auth=no_auth)  # before the model and index are loaded
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(2)
    launch(_open_or_build(settings), no_auth=no_auth)


def _ask_streaming(assistant: Any, question: str, *, as_json: bool) -> tuple[Any, bool]:
    """Ask, printing each sentence of an LLM answer as it is shown (and each dropped one,
    on stderr, or as a JSON line); the answer, and whether its sentences were printed."""
    from assistant.answer.llm_stream import Dropped, StreamEvent, listen

    shown = 0

    def show(event: StreamEvent) -> None:
        nonlocal shown
        if isinstance(event, Dropped):
            if as_json:
                click.echo(json.dumps({"dropped": event.to_dict()}, ensure_ascii=False))
            else:
                click.echo(f"dropped: {event.sentence} ({event.reason})", err=True)
            return
        shown += 1
        line = json.dumps({"sentence": event.sentence}, ensure_ascii=False)
        click.echo(line if as_json else event.sentence)

    with listen(show):
        answer = assistant.ask(question)
    return answer, shown > 0 and not getattr(answer, "fallback", False)


def _quote(citation: Any) -> str:
    """The quoted sentences, the answering phrase in bold (plain when not on a terminal:
    click.echo drops the styling there)."""
    sentences: list[str] = []
    previous_quoted = False
    for text, quoted, answer in citation.pieces():
        if quoted:
            if not previous_quoted and sentences:
                sentences.append(" ")
            sentences.append(click.style(text, bold=True) if answer else text)
        previous_quoted = quoted
    return "".join(sentences) or citation.quote


def _open_or_build(settings: Settings) -> Any:
    """Open the index, building it from the corpus folder first when there is none."""
    from assistant.assemble import open_assistant

    # No warm-up: one question embeds only its own passages' sentences.
    return open_assistant(
        settings,
        build_if_missing=True,
        notify=lambda message: click.echo(message, err=True),
        warm=False,
    )


@cli.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write summary.json, rows.jsonl and report.html into this folder.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["markdown", "json", "jsonl"]),
    default="markdown",
    show_default=True,
    help="stdout: a Markdown summary, the summary as JSON, or one JSON line per row.",
)
@click.option(
    "-k",
    "top_k",
    type=click.IntRange(1, 50),
    help="Passages the answerer reads per question (default: ASSISTANT_TOP_K).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate only the first N rows.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1024),
    default=256,
    show_default=True,
    help="Questions retrieved and answered together (1 = one at a time, as `ask`).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    file: Path,
    out_dir: Path | None,
    output_format: str,
    top_k: int | None,
    limit: int | None,
    batch_size: int,
    no_progress: bool,
) -> None:
    """Run the questions in FILE through the assistant and report how well it did.

    FILE is JSONL or CSV with a `question` column and optional `answers`, `evidence`,
    `source` and `unanswerable`, or a SQuAD v1.1/v2.0 .json (or .zip), whose paragraphs are
    indexed into a collection of their own (the index of your documents is not touched).
    """
    from assistant.evaluate.inputs import read_eval_file
    from assistant.evaluate.report import markdown_summary, write_outputs
    from assistant.evaluate.run import evaluate

    settings = _settings(ctx)
    if top_k is not None and top_k > settings.fetch_k:
        settings = settings.with_overrides(fetch_k=top_k)
    try:
        data = read_eval_file(file)
        for warning in data.warnings:
            click.echo(f"warning: {warning}", err=True)
        run = evaluate(
            data,
            settings,
            k=top_k,
            limit=limit,
            batch_size=batch_size,
            progress=not no_progress,
            notify=lambda message: click.echo(message, err=True),
        )
    except AssistantError as exc:
        raise click.ClickException(str(exc)) from exc
    if out_dir is not None:
        try:
            paths = write_outputs(run, out_dir)
        except OSError as exc:
            raise click.ClickException(f"Cannot write the results to {out_dir}/: {exc}") from exc
        click.echo(f"Wrote {', '.join(str(p) for p in paths.values())}", err=True)
    if output_format == "json":
        click.echo(json.dumps(run.summary, indent=2, ensure_ascii=False))
    elif output_format == "jsonl":
        for row in run.rows:
            click.echo(json.dumps(row.to_dict(), ensure_ascii=False))
    else:
        click.echo(markdown_summary(run.summary, title=f"Evaluation of {file.name}"))
    seconds = run.summary["seconds"]
    click.echo(
        f"{len(run.rows):,} questions in {seconds['total']:.1f} s "
        f"({', '.join(f'{k} {v:.1f} s' for k, v in seconds.items() if k != 'total')})",
        err=True,
    )
    if run.rows and run.summary["errors"] == len(run.rows):
        raise click.ClickException(
            f"Every one of the {len(run.rows)} questions failed; the first error was: "
            f"{run.rows[0].error}"
        )


def main() -> None:
    cli(prog_name="assistant")


if __name__ == "__main__":
    main()

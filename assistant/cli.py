"""The ``assistant`` command: index, ask, sources, remove, eval, serve.

Results go to stdout, progress and errors to stderr.
"""

from __future__ import annotations

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


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    settings: Settings = ctx.obj
    updates = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**{**settings.model_dump(), **updates}) if updates else settings


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
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.pass_context
@_friendly_errors
def index_command(
    ctx: click.Context, paths: tuple[Path, ...], rebuild: bool, as_json: bool
) -> None:
    """Index documents (default: the corpus folder); only what changed is embedded again."""
    from assistant.chain import make_embeddings, store_location
    from assistant.index import index_paths

    settings = _settings(ctx)
    targets = list(paths) or [settings.corpus_dir]
    report = index_paths(
        targets,
        location=store_location(settings),
        embeddings=make_embeddings(settings),
        rebuild=rebuild,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(
            f"{report.added} added, {report.updated} updated, {report.skipped} skipped, "
            f"{report.deleted} deleted in {report.seconds:.1f} s "
            f"({store_location(settings).describe()})"
        )
        for failure in report.failed:
            click.echo(f"failed: {failure['source']}: {failure['error']}", err=True)
    if report.failed:
        ctx.exit(1)


@cli.command("ask")
@click.argument("question")
@click.option("-k", "top_k", type=click.IntRange(1, 50), help="Passages to retrieve.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_context
@_friendly_errors
def ask_command(ctx: click.Context, question: str, top_k: int | None, as_json: bool) -> None:
    """Answer QUESTION from the indexed documents, citing the passages it quotes."""
    from assistant.chain import check_question

    settings = _settings(ctx, top_k=top_k)
    check_question(question, max_chars=settings.max_question_chars)  # fail before loading
    assistant = _open_or_build(settings)
    answer = assistant.ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    click.echo(answer.text)
    for c in answer.citations:
        where = ", ".join(
            part
            for part in (
                c.title,
                c.section,
                f"paragraph {c.paragraph}",
                f"page {c.page}" if c.page else "",
            )
            if part
        )
        click.echo(f"\n[{c.n}] {where} ({c.source})\n    “{c.quote}”")


@cli.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list on stdout.")
@click.pass_context
@_friendly_errors
def sources_command(ctx: click.Context, as_json: bool) -> None:
    """List the indexed documents, their passage counts and when they were indexed."""
    from assistant.chain import make_embeddings, store_location
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
    from assistant.chain import make_embeddings, store_location
    from assistant.sources import remove_source

    settings = _settings(ctx)
    removed = remove_source(store_location(settings), make_embeddings(settings), source)
    click.echo(f"Removed {source}: {removed} passages.")


@cli.command("serve")
@click.option("--host", help="Address to bind (default 127.0.0.1, or ASSISTANT_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 7860).")
@click.pass_context
@_friendly_errors
def serve_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Open the chat in the browser (Gradio), over the indexed documents."""
    from assistant.ui import launch

    settings = _settings(ctx, host=host, port=port)
    launch(_open_or_build(settings))


def _open_or_build(settings: Settings) -> Any:
    """Open the index, building it from the corpus folder first when there is none."""
    from assistant.chain import open_assistant

    # No warm-up: one question embeds only its own passages' sentences.
    return open_assistant(
        settings,
        build_if_missing=True,
        notify=lambda message: click.echo(message, err=True),
        warm=False,
    )


def _register_eval() -> None:
    from assistant.cli_eval import eval_command

    cli.add_command(eval_command)


_register_eval()


def main() -> None:
    cli(prog_name="assistant")


if __name__ == "__main__":
    main()

"""``assistant eval FILE``: score the assistant on a file of questions (see the README)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assistant.config import Settings
from assistant.errors import AssistantError


@click.command("eval")
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
    from assistant.eval_inputs import read_eval_file
    from assistant.evaluate import evaluate
    from assistant.report import markdown_summary, write_outputs

    try:
        settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()  # type: ignore[call-arg]
    except Exception as exc:  # pydantic's ValidationError lists every bad variable
        raise click.ClickException(f"Invalid ASSISTANT_* setting: {exc}") from exc
    if top_k is not None and top_k > settings.fetch_k:
        settings = Settings(**{**settings.model_dump(), "fetch_k": top_k})
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

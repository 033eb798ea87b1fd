"""The server path at a few thousand passages: more than one page of reads (``PAGE_SIZE``)
indexed into a real `chroma run` on loopback, re-indexed, edited, answered, listed and
removed through the CLI, and read by a second machine that has no files of its own."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.store import PAGE_SIZE

pytestmark = [pytest.mark.server, pytest.mark.slow]  # about a minute: 5,200 passages embedded

FILES, PARAGRAPHS = 52, 100
PASSAGES = FILES * PARAGRAPHS
PLANTED = "ledger-17.txt"
FACT = "The zorblat of the north harbour is a copper kettle kept for the winter fair."
PLACES = ["north", "south", "east", "west", "river", "harbour", "hill", "market"]
ITEMS = ["lanterns", "ropes", "barrels", "nails", "sails", "oars", "maps", "bells", "jars"]
COLOURS = ["blue", "green", "red", "grey", "black", "white", "yellow", "brown"]
NAMES = ["Ada", "Bram", "Cleo", "Dov", "Esme", "Finn", "Gus", "Hana", "Ivo", "Jun"]


def _paragraph(rng: random.Random, file: int, n: int) -> str:
    return (
        f"In the {rng.choice(PLACES)} ledger {file}, entry {n} lists {rng.randint(2, 900)} "
        f"{rng.choice(COLOURS)} {rng.choice(ITEMS)} kept on shelf {rng.randint(1, 5000)} "
        f"by {rng.choice(NAMES)}, checked in week {rng.randint(1, 52)}."
    )


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``FILES`` text files of ``PARAGRAPHS`` one-sentence paragraphs each (one passage
    each), one of them holding ``FACT``."""
    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("ledgers") / "ledgers"
    folder.mkdir()
    for file in range(FILES):
        paragraphs = [_paragraph(rng, file, n) for n in range(PARAGRAPHS)]
        if f"ledger-{file}.txt" == PLANTED:
            paragraphs[40] = FACT
        (folder / f"ledger-{file}.txt").write_text(f"Ledger {file}\n\n" + "\n\n".join(paragraphs))
    return folder


def run(args: list[str], index_dir: Path, url: str):
    env = {"ASSISTANT_INDEX_DIR": str(index_dir), "ASSISTANT_CHROMA_URL": url}
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_thousands_of_passages_on_a_server(chroma_url, tmp_path, ledgers):
    assert PASSAGES > PAGE_SIZE  # every read of the whole collection takes two pages
    writer = tmp_path / "writer"
    first = json.loads(run(["index", "--json", str(ledgers)], writer, chroma_url).stdout)
    assert (first["added"], first["failed"]) == (PASSAGES, [])

    again = json.loads(run(["index", "--json", str(ledgers)], writer, chroma_url).stdout)
    assert (again["added"], again["skipped"], again["deleted"]) == (0, PASSAGES, 0)

    answer = json.loads(
        run(
            ["ask", "--json", "What is the zorblat of the north harbour?"], writer, chroma_url
        ).stdout
    )
    assert not answer["refused"]
    assert "copper kettle" in answer["answer"]
    assert answer["citations"][0]["source"] == PLANTED

    # One paragraph edited: that passage alone is replaced.
    planted = ledgers / PLANTED
    planted.write_text(planted.read_text().replace("copper kettle", "silver teapot"))
    edited = json.loads(run(["index", "--json", str(ledgers)], writer, chroma_url).stdout)
    assert (edited["added"], edited["deleted"], edited["skipped"]) == (1, 1, PASSAGES - 1)

    # Another machine: its own empty folder, nothing indexed from it; it reads the server
    # (its keyword index is built from the server's passages, page by page).
    reader = tmp_path / "reader"
    seen = json.loads(
        run(
            ["ask", "--json", "What is the zorblat of the north harbour?"], reader, chroma_url
        ).stdout
    )
    assert "silver teapot" in seen["answer"]
    listed = json.loads(run(["sources", "--json"], reader, chroma_url).stdout)
    assert len(listed) == FILES
    assert sum(s["passages"] for s in listed) == PASSAGES

    removed = run(["remove", "ledger-3.txt"], writer, chroma_url)
    assert f"{PARAGRAPHS} passages" in removed.stdout
    listed = json.loads(run(["sources", "--json"], reader, chroma_url).stdout)
    assert len(listed) == FILES - 1
    assert sum(s["passages"] for s in listed) == PASSAGES - PARAGRAPHS

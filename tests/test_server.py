"""The same commands against a real `chroma run` server on loopback."""

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli

from .conftest import CORPUS
from .support import free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chromadb package's `chroma` command is missing"
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = open(data / "server.log", "w")  # noqa: SIM115 - closed at teardown
    server = subprocess.Popen(
        [chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"chroma run did not start: {(data / 'server.log').read_text()}")
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


def run(args, tmp_path: Path, url: str, corpus: Path = CORPUS):
    env = {
        "ASSISTANT_INDEX_DIR": str(tmp_path / "index"),
        "ASSISTANT_CORPUS_DIR": str(corpus),
        "ASSISTANT_CHROMA_URL": url,
    }
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_index_reindex_remove_and_ask_on_a_server(chroma_url, tmp_path, corpus_copy):
    first = json.loads(run(["index", "--json"], tmp_path, chroma_url, corpus_copy).stdout)
    assert (first["added"], first["failed"]) == (13, [])
    assert not (tmp_path / "index" / "chroma").exists()  # nothing stored locally but records

    again = json.loads(run(["index", "--json"], tmp_path, chroma_url, corpus_copy).stdout)
    assert (again["added"], again["skipped"]) == (0, 13)

    (corpus_copy / "kettle.txt").write_text(
        "Kettles\n\nA zorblat is a copper kettle used at the winter fair in Oslo."
    )
    added = json.loads(run(["index", "--json"], tmp_path, chroma_url, corpus_copy).stdout)
    assert (added["added"], added["skipped"]) == (1, 13)

    answer = json.loads(
        run(["ask", "--json", "What is a zorblat?"], tmp_path, chroma_url, corpus_copy).stdout
    )
    assert not answer["refused"]
    assert answer["citations"][0]["source"] == "kettle.txt"
    plan_t = json.loads(run(["ask", "--json", "What is Plan T?"], tmp_path, chroma_url).stdout)
    assert "link the pressures" in plan_t["answer"]

    listed = json.loads(run(["sources", "--json"], tmp_path, chroma_url).stdout)
    assert sorted(s["source"] for s in listed) == ["iran-militias-iraq-plan-t.txt", "kettle.txt"]
    removed = run(["remove", "kettle.txt"], tmp_path, chroma_url)
    assert removed.exit_code == 0 and "1 passages" in removed.stdout
    gone = json.loads(run(["ask", "--json", "What is a zorblat?"], tmp_path, chroma_url).stdout)
    assert gone["refused"]


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    result = run(["ask", "What is Plan T?"], tmp_path, f"http://127.0.0.1:{free_port()}")
    assert result.exit_code != 0
    assert "Chroma server" in result.stderr
    assert "Traceback" not in result.output

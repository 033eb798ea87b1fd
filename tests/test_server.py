"""The same commands against a real `chroma run` server on loopback."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli

from .conftest import CORPUS
from .support import free_port, start_chroma

pytestmark = [pytest.mark.server, pytest.mark.slow]


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


def test_rebuild_on_a_server_asks_for_yes_first(chroma_url, tmp_path, corpus_copy):
    first = run(["index", "--json"], tmp_path, chroma_url, corpus_copy)
    assert first.exit_code == 0, first.output
    refused = run(["index", "--rebuild", "--json"], tmp_path, chroma_url, corpus_copy)
    assert refused.exit_code != 0
    assert "--yes" in refused.stderr and chroma_url in refused.stderr
    assert "Traceback" not in refused.output
    # Nothing was deleted: the documents are all still there.
    listed = json.loads(run(["sources", "--json"], tmp_path, chroma_url).stdout)
    assert sum(s["passages"] for s in listed) == 13
    rebuilt = run(["index", "--rebuild", "--yes", "--json"], tmp_path, chroma_url, corpus_copy)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["added"] == 13


@pytest.mark.parametrize("command", [["index"], ["sources"], ["remove", "x.txt"]])
def test_an_unreachable_server_never_suggests_a_rebuild(tmp_path, command):
    result = run(command, tmp_path, f"http://127.0.0.1:{free_port()}")
    assert result.exit_code != 0
    assert "Cannot reach the Chroma server" in result.stderr
    assert "--rebuild" not in result.stderr
    assert "Traceback" not in result.output


def test_a_server_that_refuses_our_credentials_says_so(tmp_path):
    # A real HTTP server that answers every request 401, as a Chroma server with
    # authentication does to a client without a token.
    import http.server
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            body = b'{"error":"Unauthorized","message":"missing token"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run(["sources"], tmp_path, url)
    finally:
        server.shutdown()
    assert result.exit_code != 0
    assert "refused the request" in result.stderr
    assert "--rebuild" not in result.stderr
    assert "Traceback" not in result.output


def test_a_server_that_went_away_is_not_called_corrupt(tmp_path, corpus_copy):
    # The client (kept for the life of the process) was made while the server was up; the
    # server then stops. That is no reason to delete the collection with --rebuild.
    data = tmp_path / "server"
    data.mkdir()
    url, server, log = start_chroma(data)
    try:
        first = run(["index", "--json"], tmp_path, url, corpus_copy)
        assert first.exit_code == 0, first.output
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()  # type: ignore[attr-defined]
    for command in (["sources"], ["ask", "What is Plan T?"], ["index"]):
        result = run(command, tmp_path, url, corpus_copy)
        assert result.exit_code != 0
        assert "Cannot reach the Chroma server" in result.stderr, result.stderr
        assert "--rebuild" not in result.stderr
        assert "Traceback" not in result.output

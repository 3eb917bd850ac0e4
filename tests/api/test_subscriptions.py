"""Webhook subscriptions over HTTP through the real app (SQLite and PostgreSQL): what the API
takes and refuses, who sees which subscription, and the dispatcher's rounds against the same
read model (turning the feed into deliveries, leasing, sending, setting aside, replaying)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from activities.webhooks import Dispatcher, backoff
from store import feed, subscriptions as store
from tests.api.conftest import Gateway, user_id
from tests.api.test_metrics import sample
from tests.api.test_native import assert_problem, start_with_team, task
from tests.integration.test_webhooks import serve, verified

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def make(gateway: Gateway, user: str, url: str, **body: object) -> dict:
    resp = await gateway.call("POST", "/subscriptions", user, json={"url": url, **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_bad_subscriptions_are_refused_and_nothing_is_kept(gateway: Gateway) -> None:
    before = (await gateway.call("GET", "/subscriptions", "rev2")).json()
    cases = [
        ({"url": "http://169.254.169.254/latest"}, 422, "CASEWORK_HTTP_ALLOW"),
        ({"url": "ftp://127.0.0.1/x"}, 422, "http"),
        ({"url": "http://127.0.0.1:abc/x"}, 422, "cannot be read"),
        ({"url": "http://127.0.0.1:9/x", "secret": "whsec_" + base64.b64encode(b"short").decode()}, 422, ""),
        ({"url": "http://127.0.0.1:9/x", "filter": {"types": "TaskClaimed"}}, 422, ""),
        ({"url": "http://127.0.0.1:9/x", "extra": 1, "filter": {"types": ["x"] * 51}}, 422, ""),
    ]
    for body, status, words in cases:
        assert_problem(await gateway.call("POST", "/subscriptions", "rev2", json=body), status, words)
    assert_problem(await gateway.call("POST", "/subscriptions", None, json={"url": "http://127.0.0.1:9/x"}), 401)
    assert (await gateway.call("GET", "/subscriptions", "rev2")).json() == before


async def test_subscriptions_belong_to_their_owner_and_operators(gateway: Gateway) -> None:
    mine = await make(gateway, "rev2", "http://127.0.0.1:9/mine", description="mine", filter={"types": ["TaskClaimed"]})
    assert mine["secret"].startswith("whsec_") and mine["filter"]["types"] == ["TaskClaimed"]
    path = f"/subscriptions/{mine['id']}"
    read = (await gateway.call("GET", path, "rev2")).json()
    assert read["url"] == "http://127.0.0.1:9/mine" and "secret" not in read
    assert mine["id"] in [s["id"] for s in (await gateway.call("GET", "/subscriptions", "rev2")).json()]
    assert mine["id"] not in [s["id"] for s in (await gateway.call("GET", "/subscriptions", "rev1")).json()]
    operator_view = {s["id"]: s for s in (await gateway.call("GET", "/subscriptions", "admin")).json()}
    assert operator_view[mine["id"]]["url"] == "http://127.0.0.1:9/..."  # a hook's path may be its credential
    for method, suffix in (("GET", ""), ("POST", "/pause"), ("DELETE", ""), ("GET", "/deliveries")):
        body = assert_problem(await gateway.call(method, path + suffix, "rev1"), 404)
        assert "rev2" not in body["detail"]
    assert (await gateway.call("POST", path + "/pause", "rev2")).json()["state"] == "paused"
    assert (await gateway.call("POST", path + "/resume", "admin")).json()["state"] == "active"
    assert (await gateway.call("GET", path + "/deliveries?status=bogus", "rev2")).status_code == 422
    assert_problem(await gateway.call("POST", path + "/deliveries/msg_nothing/replay", "rev2"), 404)
    assert (await gateway.call("DELETE", path, "rev2")).status_code == 204
    assert_problem(await gateway.call("GET", path, "rev2"), 404)


async def test_the_dispatcher_delivers_signed_events_of_visible_cases_and_sets_failures_aside(gateway: Gateway) -> None:
    receiver, server = serve()
    try:
        app = gateway.app
        settings = app.state.settings.model_copy(update={"webhook_max_attempts": 2, "webhook_retry_seconds": 0.01})
        dispatcher = Dispatcher(settings, app.state.service.db, app.state.directory)
        seen = await make(gateway, "rev1", f"{receiver.url}/rev1")
        unseen = await make(gateway, "outsider", f"{receiver.url}/outsider")
        failing = await make(gateway, "rev1", f"{receiver.url}/down", filter={"types": ["TaskClaimed"]})
        receiver.modes["/down"] = "down"
        case = await start_with_team(gateway, "rev1")
        cid = case["caseInstanceId"]
        claimed = await gateway.call("PUT", f"/tasks/{task(case, 'review')}/claim", "rev1")
        assert claimed.status_code == 200
        await gateway.app.state.service.settle()  # the gateway's writes of the actions are in
        for _ in range(20):
            await dispatcher.round()
        got = verified(seen["secret"], receiver.on("/rev1"))
        mine = [p for p in got.values() if p["data"]["caseInstanceId"] == cid]
        assert [p["data"]["seq"] for p in mine] == list(range(len(mine))) and mine
        assert "TaskClaimed" in [p["type"] for p in mine]
        assert [p for p in verified(unseen["secret"], receiver.on("/outsider")).values() if p["data"]["caseInstanceId"] == cid] == []
        [aside] = (await gateway.call("GET", f"/subscriptions/{failing['id']}/deliveries?status=failed", "rev1")).json()
        assert aside["attempts"] == 2 and "503" in aside["lastError"]
        # operators see the set-aside delivery in the gateway's metrics
        scraped = (await gateway.http.get("/metrics")).text
        assert sample(scraped, "casework_webhook_deliveries", status="failed") >= 1
        receiver.modes["/down"] = "up"
        replayed = await gateway.call("POST", f"/subscriptions/{failing['id']}/deliveries/{aside['id']}/replay", "rev1")
        assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
        scraped = (await gateway.http.get("/metrics")).text
        assert sample(scraped, "casework_webhook_deliveries", status="pending") >= 1
        assert sample(scraped, "casework_webhook_oldest_pending_seconds") > 0  # made when the claim was
        await dispatcher.round()
        assert receiver.on("/down")[-1][0]["webhook-id"] == aside["id"]
        [done] = (await gateway.call("GET", f"/subscriptions/{failing['id']}/deliveries", "rev1")).json()
        assert done["status"] == "delivered"
        # delivered ones are dropped once older than the keeping time; a pending or set-aside one is not
        assert await store.forget_delivered(app.state.service.db, datetime.now(UTC) - timedelta(days=1)) == 0
        assert await store.forget_delivered(app.state.service.db, datetime.now(UTC) + timedelta(seconds=1)) >= len(mine) + 1
        assert (await gateway.call("GET", f"/subscriptions/{failing['id']}/deliveries", "rev1")).json() == []
        # a URL that cannot be sent to (stored before the gateway checked ports) fails its
        # own deliveries, and the round records everyone else's outcomes
        broken = await store.create(app.state.service.db, user_id("rev1"), "http://127.0.0.1:99999/x", store.new_secret(),
                                    store.Filter(types=["TaskRevoked"]), "", datetime.now(UTC))
        receiver.modes["/rev1"] = "up"
        assert (await gateway.call("PUT", f"/tasks/{task(case, 'review')}/revoke", "rev1")).status_code == 200
        await app.state.service.settle()
        for _ in range(10):
            await dispatcher.round()
        assert "TaskRevoked" in [p["type"] for p in verified(seen["secret"], receiver.on("/rev1")).values()]
        [bad] = (await gateway.call("GET", f"/subscriptions/{broken.id}/deliveries", "rev1")).json()
        assert bad["status"] == "failed" and "could not be" in bad["lastError"]
        for sub in (seen["id"], unseen["id"], failing["id"], broken.id):
            await gateway.call("DELETE", f"/subscriptions/{sub}", "admin")
    finally:
        server.shutdown()


async def test_a_lease_held_by_a_dispatcher_is_not_sent_twice_until_it_runs_out(gateway: Gateway) -> None:
    db = gateway.app.state.service.db
    sub = await make(gateway, "rev1", "http://127.0.0.1:9/lease")
    row = await store.get(db, sub["id"])
    assert row is not None
    case = await start_with_team(gateway, "rev1")
    await gateway.app.state.service.settle()
    entries = [e for e in await feed.since(db, row.cursor, 500) if e.case_id == case["caseInstanceId"]]
    now = datetime.now(UTC)
    assert await store.advance(db, [(row, entries[:2])], entries[1].id, now) == [row.id]
    assert await store.advance(db, [(row, entries[:2])], entries[1].id, now) == []  # the cursor moved: a racer writes nothing
    first = await store.lease_due(db, now, timedelta(seconds=30), 10)
    mine = [d for d in first if d.subscription_id == sub["id"]]
    # only the oldest of the case is due (a case's deliveries go in order), leased once
    assert [d.feed_id for d in mine] == [entries[0].id]
    assert [d for d in await store.lease_due(db, now, timedelta(seconds=30), 10) if d.subscription_id == sub["id"]] == []
    later = now + timedelta(seconds=31)
    again = [d for d in await store.lease_due(db, later, timedelta(seconds=30), 10) if d.subscription_id == sub["id"]]
    assert [d.id for d in again] == [mine[0].id]  # the lease ran out: the same delivery, the same id
    await gateway.call("DELETE", f"/subscriptions/{sub['id']}", "rev1")
    assert backoff(1, 5) == timedelta(seconds=5) and backoff(3, 5) == timedelta(seconds=20)
    assert backoff(30, 5) == timedelta(hours=1)
    assert uuid.UUID(mine[0].id.removeprefix("msg_"))


async def test_a_user_has_at_most_the_configured_number_of_subscriptions(gateway: Gateway) -> None:
    svc = gateway.app.state.service
    original = svc.settings
    had = len((await gateway.call("GET", "/subscriptions", "author2")).json())
    svc.settings = original.model_copy(update={"webhook_max_per_user": had + 1})
    try:
        one = await make(gateway, "author2", "http://127.0.0.1:9/one")
        body = assert_problem(await gateway.call("POST", "/subscriptions", "author2", json={"url": "http://127.0.0.1:9/two"}), 422)
        assert "CASEWORK_WEBHOOK_MAX_PER_USER" in body["detail"]
        assert len((await gateway.call("GET", "/subscriptions", "author2")).json()) == had + 1
    finally:
        svc.settings = original
    await gateway.call("DELETE", f"/subscriptions/{one['id']}", "author2")

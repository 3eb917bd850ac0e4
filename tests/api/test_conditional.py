"""Conditional requests on the native face: every read of one case carries the case version
as its ETag (304 for a client whose copy is current), and every mutation takes it back in
If-Match, so a write made on a stale copy is refused with 412 and changes nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.api.conftest import Gateway, user_id
from tests.api.test_native import assert_problem, start_with_team, task

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def etag_of(gateway: Gateway, path: str, username: str = "author") -> str:
    resp = await gateway.call("GET", path, username)
    assert resp.status_code == 200, resp.text
    return resp.headers["etag"]


async def test_reads_carry_the_case_version_and_answer_304_while_it_holds(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    whole = await gateway.call("GET", f"/cases/{cid}", "author")
    tag = whole.headers["etag"]
    assert tag == f'"{whole.json()["caseVersion"]}"'
    for path in (f"/cases/{cid}", f"/cases/{cid}/planitems", f"/cases/{cid}/casefile", f"/cases/{cid}/caseteam",
                 f"/tasks/case/{cid}", f"/tasks/{task(case, 'review')}"):
        assert await etag_of(gateway, path) == tag, path
        unchanged = await gateway.call("GET", path, "author", headers={"If-None-Match": tag})
        assert unchanged.status_code == 304, (path, unchanged.text)
        assert unchanged.content == b"" and unchanged.headers["etag"] == tag
        # weak comparison: W/ and a list naming it match too; another version does not
        weak = await gateway.call("GET", path, "author", headers={"If-None-Match": f'"999", W/{tag}'})
        assert weak.status_code == 304, path
        other = await gateway.call("GET", path, "author", headers={"If-None-Match": '"999"'})
        assert other.status_code == 200 and other.content, path

    changed = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"note": "x"})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != tag
    again = await gateway.call("GET", f"/cases/{cid}/casefile", "author", headers={"If-None-Match": tag})
    assert again.status_code == 200 and again.json()["note"] == "x"
    assert again.headers["etag"] == changed.headers["etag"]


async def test_a_write_on_the_current_etag_lands_and_one_on_a_stale_etag_is_refused_with_412(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    tag = await etag_of(gateway, f"/cases/{cid}")
    first = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"note": "mine"}, headers={"If-Match": tag})
    assert first.status_code == 200, first.text
    current = first.headers["etag"]
    assert current != tag

    stale = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"note": "overwrite"}, headers={"If-Match": tag})
    body = assert_problem(stale, 412, "version")
    assert stale.headers["etag"] == current  # what to read again, or to retry on
    assert body["errors"][0]["field"] == "If-Match"
    assert (await gateway.call("GET", f"/cases/{cid}/casefile", "author")).json()["note"] == "mine"
    assert await etag_of(gateway, f"/cases/{cid}") == current  # nothing changed, not even the version

    # task actions too: a stale claim leaves the task in its pool
    review = task(case, "review")
    refused = await gateway.call("PUT", f"/tasks/{review}/claim", "rev1", headers={"If-Match": tag})
    assert_problem(refused, 412)
    assert (await gateway.call("GET", f"/tasks/{review}", "rev1")).json()["assignee"] is None
    claimed = await gateway.call("PUT", f"/tasks/{review}/claim", "rev1", headers={"If-Match": current})
    assert claimed.status_code == 200 and claimed.json()["assignee"] == user_id("rev1")


async def test_two_writers_racing_on_one_etag_get_one_200_and_one_412(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    tag = await etag_of(gateway, f"/cases/{cid}")

    async def write(value: str):
        return await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"note": value}, headers={"If-Match": tag})

    for round_ in range(3):
        answers = await asyncio.gather(write(f"a{round_}"), write(f"b{round_}"))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 412], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200)
        loser = next(a for a in answers if a.status_code == 412)
        assert loser.headers["etag"] == winner.headers["etag"]
        assert (await gateway.call("GET", f"/cases/{cid}/casefile", "author")).json()["note"] == winner.json()["note"]
        tag = winner.headers["etag"]


async def test_if_match_forms_star_weak_and_foreign_tags(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    tag = await etag_of(gateway, f"/cases/{cid}")
    # a weak tag never matches a write (strong comparison), nor does a tag not of ours
    for header in (f"W/{tag}", '"not-a-version"', "garbage"):
        resp = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"n": 1}, headers={"If-Match": header})
        assert_problem(resp, 412)
    # `*`: any current version; a list: any of them
    star = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"n": 2}, headers={"If-Match": "*"})
    assert star.status_code == 200, star.text
    listed = await gateway.call(
        "PUT", f"/cases/{cid}/casefile", "author", json={"n": 3}, headers={"If-Match": f'"1", {star.headers["etag"]}'}
    )
    assert listed.status_code == 200, listed.text
    assert (await gateway.call("GET", f"/cases/{cid}/casefile", "author")).json()["n"] == 3


async def test_a_retried_key_gets_its_first_answer_though_its_etag_is_stale_by_then(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    tag = await etag_of(gateway, f"/cases/{cid}")
    key = uuid.uuid4().hex
    headers = {"If-Match": tag, "Idempotency-Key": key}
    first = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"note": "once"}, headers=headers)
    assert first.status_code == 200, first.text
    retry = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"note": "once"}, headers=headers)
    assert retry.status_code == 200 and retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]


async def test_a_condition_tells_an_outsider_nothing(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    resp = await gateway.call("PUT", f"/cases/{cid}/casefile", "outsider", json={"x": 1}, headers={"If-Match": '"1"'})
    body = assert_problem(resp, 404)
    assert "etag" not in resp.headers and "version" not in body["detail"]
    unread = await gateway.call("GET", f"/cases/{cid}", "outsider", headers={"If-None-Match": "*"})
    assert_problem(unread, 404)

"""The event feed as the read model holds it (SQLite and PostgreSQL): every entry of a case
once, in the case's order, and who each entry is for."""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy import delete, text

from store import feed
from store.tables import FeedRow, ParticipationRow
from tests.api.conftest import Gateway, user_id
from tests.api.test_native import start_with_team, task
from workflows.public import principals_of

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def entries_of(gateway: Gateway, case_id: str) -> list[feed.Entry]:
    db = gateway.app.state.service.db
    await gateway.app.state.service.settle()
    return [e for e in await feed.since(db, 0, 100_000) if e.case_id == case_id]


async def test_the_feed_holds_each_entry_of_a_case_once_in_order(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    assert (await gateway.call("PUT", f"/tasks/{task(case, 'review')}/claim", "rev1")).status_code == 200
    assert (await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"n": 1})).status_code == 200
    history = (await gateway.call("GET", f"/cases/{cid}/history", "author")).json()
    mine = await entries_of(gateway, cid)
    assert [e.seq for e in mine] == list(range(len(history)))
    assert [e.kind for e in mine] == [(h["event"] or {}).get("kind", "AuditEntry") for h in history]
    ids = [e.id for e in mine]
    assert ids == sorted(ids)


async def test_a_task_entry_is_for_those_its_task_is_listed_for_even_without_participations(gateway: Gateway) -> None:
    """A task's entries are for whom `GET /tasks` showed or shows the task (its pool, its
    holder), so an inbox learns of a task offered and of one claimed away (the audience
    before the change is recorded with the entry); the task row and who it is for now are
    read in one statement, so a claim committed between two reads cannot hide it."""
    case = await start_with_team(gateway)
    cid = case["caseInstanceId"]
    review = task(case, "review")
    entries = await entries_of(gateway, cid)
    rev1 = gateway.app.state.directory.find(user_id("rev1")).to_actor()
    principals = frozenset(principals_of(rev1))
    offered = [e for e in entries if e.item_id == "review"]
    assert offered and all(e.visible_to(principals, False) for e in offered)  # the reviewers' pool
    assert not any(e.visible_to(principals, False) for e in entries if e.item_id is None)  # not the case's own

    assert (await gateway.call("PUT", f"/tasks/{review}/claim", "rev1")).status_code == 200
    db = gateway.app.state.service.db
    await gateway.app.state.service.settle()
    async with db.session() as session:  # as a read taken before the claim's participations
        await session.execute(delete(ParticipationRow).where(ParticipationRow.case_id == cid))
        await session.commit()
    claimed = [e for e in await entries_of(gateway, cid) if e.kind == "TaskClaimed"]
    assert claimed and claimed[0].visible_to(principals, False)
    directory = gateway.app.state.directory
    rev2 = frozenset(principals_of(directory.find(user_id("rev2")).to_actor()))
    assert claimed[0].visible_to(rev2, False)  # claimed away from rev2's pool: rev2's inbox drops it
    outsider = frozenset(principals_of(directory.find(user_id("outsider")).to_actor()))
    assert not any(e.visible_to(outsider, False) for e in await entries_of(gateway, cid))
    # what the lists say: the task left rev2's list with the claim (the entry told him so),
    # it is in rev1's, and never in the outsider's
    listed = (await gateway.call("GET", "/tasks?numberOfResults=1000", "rev2")).json()
    assert not [t for t in listed if t["caseInstanceId"] == cid]
    held = (await gateway.call("GET", "/tasks?numberOfResults=1000", "rev1")).json()
    assert [t["assignee"] for t in held if t["caseInstanceId"] == cid] == [user_id("rev1")]
    assert not [t for t in (await gateway.call("GET", "/tasks?numberOfResults=1000", "outsider")).json() if t["caseInstanceId"] == cid]


async def test_a_case_from_before_the_feed_is_fed_from_its_next_entry_not_its_history(gateway: Gateway) -> None:
    """Migration 0011 marks where each existing case's entries begin: its first change after
    the upgrade appends only what is new."""
    marks = importlib.import_module("store.migrations.versions.0011_feed_starts").MARKS
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    stored = await entries_of(gateway, cid)
    db = gateway.app.state.service.db
    async with db.session() as session:  # the case as it was before the feed existed
        await session.execute(delete(FeedRow).where(FeedRow.case_id == cid))
        await session.execute(text(marks))
        await session.commit()
    assert [e.seq for e in await entries_of(gateway, cid)] == [stored[-1].seq]  # the mark, at the last one stored
    assert (await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"n": 2})).status_code == 200
    after = [e for e in await entries_of(gateway, cid) if e.seq != stored[-1].seq]
    assert [e.kind for e in after] == ["CaseFileChanged"]
    assert after[0].seq == stored[-1].seq + 1

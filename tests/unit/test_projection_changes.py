"""Incremental projection (store.projection.write_change with engine.projection.ChangeTracker)
on both backends: whatever order changes arrive in, and whichever writer brings them, the
read model holds exactly one recorded state of the case, the same rows that writing that
state whole gives, or it refuses the change and keeps the state it had."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from store import projection
from store.db import Database
from store.tables import CaseRow, DelegationPrincipalRow, DelegationRow, ParticipationRow
from tests.unit.engine_helpers import actor, at, definition, run, start_case
from workflows.engine.commands import Claim, Complete, Delegate, MergeFile, Revoke, TeamAdd, TeamRemove, Transition
from workflows.engine.projection import ChangeTracker, project
from workflows.engine.state import CaseState, TeamMember

DEFN = definition({
    "roles": {"clerk": {"groups": ["clerks"]}, "boss": {"users": ["bea"]}},
    "supervisors": ["sue"],
    "plan": {"items": [
        {"id": "enter", "type": "humanTask", "name": "Enter", "role": "clerk"},
        {"id": "check", "type": "humanTask", "name": "Check", "role": "clerk"},
        {"id": "sign", "type": "humanTask", "name": "Sign", "role": "boss", "entry": [{"on": ["enter.complete"]}]},
    ]},
})
OWEN = actor("owen")
CLARA = actor("clara", "clerks")
BEA = actor("bea")


def journey() -> list[CaseState]:
    """A case's recorded states, one per accepted command, from its start."""
    s = start_case(DEFN, OWEN, case_id="c1")
    out = [s]
    for cmd in [
        Claim(actor=CLARA, item_id="enter"),
        MergeFile(actor=OWEN, data={"note": "first"}),
        Delegate(actor=CLARA, item_id="enter", assignee=BEA),
        Revoke(actor=BEA, item_id="enter"),
        TeamAdd(actor=OWEN, member=TeamMember(userId="tess", caseRoles=["clerk"])),
        Claim(actor=CLARA, item_id="check"),
        Complete(actor=CLARA, item_id="enter"),
        TeamRemove(actor=OWEN, user_id="tess"),
        Transition(actor=OWEN, item_id="check", transition="suspend"),
        Claim(actor=BEA, item_id="sign"),
        Complete(actor=BEA, item_id="sign"),
    ]:
        s = run(s, cmd, at(len(out)))
        out.append(s)
    return out


STATES = journey()


async def contents(db: Database, case_id: str = "c1") -> dict[str, Any]:
    """What the read model holds of a case, comparable across databases and case ids."""
    async with db.session() as session:
        case = (await session.scalars(select(CaseRow).where(CaseRow.case_id == case_id))).one_or_none()
        dels = (await session.scalars(select(DelegationRow).where(DelegationRow.case_id == case_id))).all()
        principals = (await session.scalars(select(DelegationPrincipalRow).where(DelegationPrincipalRow.case_id == case_id))).all()
        parts = (await session.scalars(select(ParticipationRow).where(ParticipationRow.case_id == case_id))).all()

    def plain(row: Any) -> dict[str, Any]:
        return {c.name: getattr(row, c.name) for c in row.__table__.columns}

    return {
        "case": plain(case) if case else None,
        "delegations": sorted((plain(d) for d in dels), key=lambda d: d["del_index"]),
        "principals": sorted((p.principal, p.kind, p.del_index) for p in principals),
        "participations": sorted((p.principal, p.kind) for p in parts),
    }


@pytest.fixture
async def dbs(database_url: str, tmp_path: Any) -> Any:
    """The database under test, and a SQLite file for reference rows."""
    db = Database(database_url)
    ref = Database(f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}")
    await db.init()
    await ref.init()
    try:
        yield db, ref
    finally:
        await db.close()
        await ref.close()


async def reference(ref: Database, state: CaseState) -> dict[str, Any]:
    async with ref.session() as session:
        for table in (DelegationPrincipalRow, ParticipationRow, DelegationRow, CaseRow):
            await session.execute(table.__table__.delete())
        await session.commit()
    assert await projection.write(ref, project(state))
    return await contents(ref)


async def test_each_change_in_order_gives_exactly_that_state(dbs: Any) -> None:
    db, ref = dbs
    tracker = ChangeTracker()
    handed = 0
    for state in STATES:
        change = tracker.change_since(handed, state)
        handed = state.version
        assert await projection.write_change(db, change) == "written"
        assert await contents(db) == await reference(ref, state), f"after version {state.version}"


async def test_a_change_carries_only_the_rows_it_changed(dbs: Any) -> None:
    tracker = ChangeTracker()
    tracker.change_since(0, STATES[0])
    first_claim = tracker.change_since(STATES[0].version, STATES[1])
    assert [d.item_id for d in first_claim.doc.delegations] == ["enter"]
    merged = tracker.change_since(STATES[1].version, STATES[2])  # a case-file merge touches no task
    assert merged.doc.delegations == [] and merged.participations is None and merged.present is None


async def test_a_gap_is_refused_and_the_state_before_it_kept(dbs: Any) -> None:
    db, ref = dbs
    tracker = ChangeTracker()
    assert await projection.write_change(db, tracker.change_since(0, STATES[2])) == "written"
    tracker.change_since(STATES[2].version, STATES[3])  # handed to a gateway that died
    after_gap = tracker.change_since(STATES[3].version, STATES[4])
    assert await projection.write_change(db, after_gap) == "gap"
    assert await contents(db) == await reference(ref, STATES[2])
    # the case's own projection writes since what it knows is stored: no gap
    backstop = tracker.change_since(STATES[2].version, STATES[4])
    assert await projection.write_change(db, backstop) == "written"
    assert await contents(db) == await reference(ref, STATES[4])


async def test_late_and_repeated_changes_are_stale_and_change_nothing(dbs: Any) -> None:
    db, ref = dbs
    tracker = ChangeTracker()
    assert await projection.write_change(db, tracker.change_since(0, STATES[3])) == "written"
    early = tracker.change_since(STATES[3].version, STATES[5])
    late = tracker.change_since(STATES[5].version, STATES[6])
    # two writers of one case, the later change first: it has a gap and is refused...
    assert await projection.write_change(db, late) == "gap"
    assert await projection.write_change(db, early) == "written"
    assert await projection.write_change(db, late) == "written"
    assert await projection.write_change(db, early) == "stale"
    assert await projection.write_change(db, late) == "stale"
    assert await contents(db) == await reference(ref, STATES[6])


async def test_a_change_from_below_what_is_stored_still_gives_its_state(dbs: Any) -> None:
    db, ref = dbs
    tracker = ChangeTracker()
    for i in (0, 4):
        tracker.change_since(STATES[i - 1].version if i else 0, STATES[i])
    assert await projection.write_change(db, tracker.change_since(0, STATES[4])) == "written"
    # the backstop's change since version 1 covers everything after it, the stored 5 included
    tracker_all = ChangeTracker()
    tracker_all.change_since(0, STATES[0])
    for state in STATES[1:8]:
        tracker_all.change_since(state.version - 1, state)
    assert await projection.write_change(db, tracker_all.change_since(STATES[0].version, STATES[7])) == "written"
    assert await contents(db) == await reference(ref, STATES[7])


async def test_a_new_title_rewrites_every_row_of_the_case(dbs: Any) -> None:
    db, ref = dbs
    tracker = ChangeTracker()
    state = STATES[7]
    assert await projection.write_change(db, tracker.change_since(0, state)) == "written"
    renamed = state.model_copy(update={"title": "Renamed case", "version": state.version + 1})
    change = tracker.change_since(state.version, renamed)
    assert len(change.doc.delegations) == len(project(renamed).delegations)
    assert await projection.write_change(db, change) == "written"
    stored = await contents(db)
    assert {d["search_text"].split(" ")[0] for d in stored["delegations"]} == {"renamed"}
    assert stored == await reference(ref, renamed)


async def test_a_row_that_left_the_case_is_closed(dbs: Any) -> None:
    db, ref = dbs
    tracker = ChangeTracker()
    state = STATES[3]
    assert await projection.write_change(db, tracker.change_since(0, state)) == "written"
    # as when a reactivated task gets a new del_index: the old activation leaves the state
    items = dict(state.items)
    moved = items["check"].model_copy(deep=True)
    assert moved.task is not None
    moved.task.del_index = 99
    items["check"] = moved
    later = state.model_copy(update={"items": items, "version": state.version + 1})
    change = tracker.change_since(state.version, later)
    assert change.present is not None and 99 in change.present
    assert await projection.write_change(db, change) == "written"
    rows = {d["del_index"]: d for d in (await contents(db))["delegations"]}
    old_index = STATES[3].items["check"].task.del_index  # type: ignore[union-attr]
    assert rows[old_index]["open"] is False and rows[old_index]["current"] is False
    assert rows[99]["open"] is True

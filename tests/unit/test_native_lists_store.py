"""The native task list's store queries on both backends, with cases written by the real
projection: who sees which task, and that both ways of finding a caller's tasks (from their
rows in the principal index, or from the sort order for a busy caller) give the same page."""

from __future__ import annotations

import pytest

from store import native_lists, projection
from store.db import Database
from tests.unit.engine_helpers import actor, at, definition, run, start_case
from workflows.engine.commands import Claim, Complete
from workflows.engine.projection import principals_of, project

DEFN = definition({
    "roles": {"clerk": {"groups": ["clerks"]}, "boss": {"users": ["bea"]}},
    "supervisors": ["sue"],
    "plan": {"items": [
        {"id": "enter", "type": "humanTask", "name": "Enter", "role": "clerk"},
        {"id": "sign", "type": "humanTask", "name": "Sign", "role": "boss", "entry": [{"on": ["enter.complete"]}]},
    ]},
})
OWEN = actor("owen")  # starts every case: their owner
CLARA = actor("clara", "clerks")
BEA = actor("bea")
SUE = actor("sue")
NOBODY = actor("nobody")


async def seed(db: Database, n: int) -> None:
    """n cases; every third one has its first task done by clara, so bea's task is open."""
    for i in range(n):
        s = start_case(DEFN, OWEN, case_id=f"case{i:03d}", when=at(i))
        s = s.model_copy(update={"case_number": i + 1})
        if i % 3 == 0:
            s = run(s, Claim(actor=CLARA, item_id="enter"), at(i, days=1))
            s = run(s, Complete(actor=CLARA, item_id="enter"), at(i, days=1))
        assert await projection.write(db, project(s))


async def listed(db: Database, who, **page) -> list[tuple[str, str]]:
    rows = await native_lists.tasks(db, principals_of(who), page=native_lists.Page(**page))
    return [(r.case_id, r.task_name) for r in rows]


@pytest.mark.parametrize("few", [native_lists.FEW_TASKS, 1], ids=["from-principals", "from-sort-order"])
async def test_both_ways_of_listing_give_the_same_tasks(db: Database, monkeypatch: pytest.MonkeyPatch, few: int) -> None:
    monkeypatch.setattr(native_lists, "FEW_TASKS", few)
    await seed(db, 9)
    # clara's role holds every Enter task; bea only Sign, which exists in cases 0, 3, 6
    assert [t for _, t in await listed(db, CLARA, size=100)] == ["Enter"] * 9
    assert await listed(db, BEA, size=100, descending=False) == [("case000", "Sign"), ("case003", "Sign"), ("case006", "Sign")]
    # owners and supervisors see every task of the case
    assert len(await listed(db, OWEN, size=100)) == 12
    assert len(await listed(db, SUE, size=100)) == 12
    assert await listed(db, NOBODY, size=100) == []
    # pages: newest first, no row twice, none skipped
    pages = [await listed(db, OWEN, offset=o, size=5) for o in (0, 5, 10)]
    flat = [row for p in pages for row in p]
    assert len(flat) == 12 and len(set(flat)) == 12


async def test_a_changed_case_moves_its_tasks_to_their_new_viewers(db: Database) -> None:
    await seed(db, 1)
    assert await listed(db, BEA) == [("case000", "Sign")]
    s = start_case(DEFN, OWEN, case_id="case000", when=at(0))
    s = run(s, Claim(actor=CLARA, item_id="enter"), at(1))
    s = run(s, Complete(actor=CLARA, item_id="enter"), at(2))
    s = run(s, Claim(actor=BEA, item_id="sign"), at(3))
    assert await projection.write(db, project(s.model_copy(update={"version": 99})))
    counts = await native_lists.task_counts(db, "bea", principals_of(BEA))
    assert counts == {"claimed": 1, "unclaimed": 0}
    # an older projection arriving late changes nothing
    stale = start_case(DEFN, OWEN, case_id="case000", when=at(0))
    assert not await projection.write(db, project(stale.model_copy(update={"version": 2})))
    assert await native_lists.task_counts(db, "bea", principals_of(BEA)) == {"claimed": 1, "unclaimed": 0}

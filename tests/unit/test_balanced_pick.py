"""BALANCED's counter (activities/read_model.py) on both backends: the pool's users in turn,
across cases, with groups expanded through the directory, and no user handed out twice in a
turn when cases pick at once."""

from __future__ import annotations

import asyncio
from collections import Counter

from activities.messages import BalancedPickRequest
from activities.read_model import ReadModelActivities
from store.db import Database
from store.directory import Directory, hash_password

PASSWORD = hash_password("x")
DIRECTORY = Directory.parse({
    "groups": [{"id": "finance", "name": "Finance"}],
    "users": [
        {"id": f"u{n}", "username": name, "firstName": name, "lastName": "", "email": f"{name}@example.com",
         "password": PASSWORD, "groups": groups, "permissions": []}
        for n, (name, groups) in enumerate([("ann", ["finance"]), ("bob", ["finance"]), ("cat", []), ("dan", ["finance"])])
    ],
})


def request(task: str = "book", users: list[str] | None = None, groups: list[str] | None = None) -> BalancedPickRequest:
    return BalancedPickRequest(definition_id="trip", task_def_id=task, users=users or [], groups=groups or [])


async def test_picks_go_round_the_pool_across_cases(db: Database) -> None:
    picks = ReadModelActivities(db, DIRECTORY)
    # the group's members and a user named by username, as directory ids, in a stable order
    chosen = [(await picks.balanced_pick(request(users=["cat"], groups=["finance"]))).user_id for _ in range(8)]
    assert chosen == ["u0", "u1", "u2", "u3"] * 2
    # each task has a counter of its own
    assert (await picks.balanced_pick(request(task="check", users=["ann", "bob"]))).user_id == "u0"


async def test_an_empty_pool_picks_nobody(db: Database) -> None:
    picks = ReadModelActivities(db, DIRECTORY)
    assert (await picks.balanced_pick(request(groups=["nobody-here"]))).user_id is None


async def test_concurrent_picks_take_turns(db: Database) -> None:
    """Four workers of their own pick at once, 5 times each: every user gets exactly 5."""
    databases = [Database(str(db.url.render_as_string(hide_password=False))) for _ in range(4)]
    try:
        workers = [ReadModelActivities(d, DIRECTORY) for d in databases]
        results = await asyncio.gather(*(w.balanced_pick(request(groups=["finance"], users=["cat"])) for w in workers for _ in range(5)))
    finally:
        for d in databases:
            await d.close()
    assert Counter(r.user_id for r in results) == {"u0": 5, "u1": 5, "u2": 5, "u3": 5}

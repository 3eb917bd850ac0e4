"""The store against real databases, each test on a SQLite file and on PostgreSQL (the
`database_url` fixture): definition versions and case numbers, also under concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path


from store import case_numbers, definitions
from store.db import Database




def body(n: int) -> dict[str, object]:
    return {"id": "claim", "name": "Claim", "stages": [{"id": "s", "n": n}]}


async def test_init_creates_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "x.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.init()
    await database.init()  # idempotent
    async with database.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
    await database.close()
    assert path.exists()
    assert mode == "wal"
    assert timeout and timeout > 0


async def test_in_memory_sqlite_works() -> None:
    database = Database("sqlite+aiosqlite://")
    await database.init()
    await database.init()
    try:
        assert await definitions.deploy(database, "claim", "Claim", "", body(1), "admin") == (1, True)
        assert await case_numbers.allocate(database, "case-a") == 1
    finally:
        await database.close()


async def test_deploy_numbers_versions(db: Database) -> None:
    assert await definitions.deploy(db, "claim", "Claim", "insurance", body(1), "admin") == (1, True)
    assert await definitions.deploy(db, "claim", "Claim", "insurance", body(2), "admin") == (2, True)
    assert await definitions.deploy(db, "other", "Other", "", body(1), "admin") == (1, True)

    latest = await definitions.get(db, "claim")
    assert latest is not None and latest.version == 2 and latest.body == body(2)
    assert latest.deployed_by == "admin" and latest.category == "insurance"
    assert latest.deployed_at.tzinfo is not None and latest.deployed_at.utcoffset() == UTC.utcoffset(None)
    assert len(latest.digest) == 64
    first = await definitions.get(db, "claim", 1)
    assert first is not None and first.body == body(1)
    assert await definitions.get(db, "claim", 3) is None
    assert await definitions.get(db, "missing") is None

    assert [r.version for r in await definitions.versions(db, "claim")] == [1, 2]
    assert await definitions.versions(db, "missing") == []
    assert [(r.id, r.version) for r in await definitions.list_latest(db)] == [("claim", 2), ("other", 1)]


async def test_identical_redeploy_keeps_version(db: Database) -> None:
    assert await definitions.deploy(db, "claim", "Claim", "", body(1), "admin") == (1, True)
    # Same content, different key order: still identical.
    reordered = dict(reversed(list(body(1).items())))
    assert await definitions.deploy(db, "claim", "Claim", "", reordered, "someone") == (1, False)
    assert await definitions.deploy(db, "claim", "Claim", "", body(2), "admin") == (2, True)
    assert await definitions.deploy(db, "claim", "Claim", "", body(2), "admin") == (2, False)
    # Going back to an older body is a change relative to the latest: a new version.
    assert await definitions.deploy(db, "claim", "Claim", "", body(1), "admin") == (3, True)


async def test_concurrent_deploys_get_distinct_versions(db: Database) -> None:
    results = await asyncio.gather(
        *(definitions.deploy(db, "claim", "Claim", "", body(n), "admin") for n in range(10))
    )
    assert all(created for _, created in results)
    assert sorted(v for v, _ in results) == list(range(1, 11))
    assert [r.version for r in await definitions.versions(db, "claim")] == list(range(1, 11))


async def test_concurrent_identical_deploys_create_one_version(db: Database) -> None:
    results = await asyncio.gather(*(definitions.deploy(db, "claim", "Claim", "", body(7), "a") for _ in range(5)))
    assert {v for v, _ in results} == {1}
    assert sum(created for _, created in results) == 1


async def test_case_numbers_increase_and_are_idempotent(db: Database) -> None:
    assert await case_numbers.lookup(db, "case-a") is None
    a = await case_numbers.allocate(db, "case-a")
    b = await case_numbers.allocate(db, "case-b")
    assert b > a
    assert await case_numbers.allocate(db, "case-a") == a
    assert await case_numbers.lookup(db, "case-a") == a
    c = await case_numbers.allocate(db, "case-c")
    assert c == b + 1  # a retried allocation did not burn a number


async def test_concurrent_case_numbers_are_distinct(db: Database) -> None:
    ids = [f"case-{i}" for i in range(20)]
    numbers = await asyncio.gather(*(case_numbers.allocate(db, i) for i in ids))
    assert len(set(numbers)) == 20
    # Concurrent retries of the same case id agree on one number.
    again = await asyncio.gather(*(case_numbers.allocate(db, "case-x") for _ in range(5)))
    assert len(set(again)) == 1
    assert again[0] not in numbers

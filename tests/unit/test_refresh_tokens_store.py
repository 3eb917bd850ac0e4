"""Refresh-token rotation in the store (store/refresh_tokens.py), each test on a SQLite file
and on PostgreSQL (the `db` fixture): one redeem per token, reuse revoking the family, also
under concurrency and across gateways, and pruning."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from store import refresh_tokens
from store.db import Database
from store.refresh_tokens import Redemption
from store.tables import RevokedTokenFamilyRow, UsedRefreshTokenRow

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=14)


async def redeem(db: Database, jti: str, family: str = "fam") -> Redemption:
    return await refresh_tokens.redeem(db, jti, family, "u1", expires_at=LATER, now=NOW)


async def count(db: Database, column: object) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count(column))) or 0)


async def test_a_token_is_redeemed_once_then_its_reuse_revokes_its_family(db: Database) -> None:
    assert await redeem(db, "t1") is Redemption.FIRST
    assert await redeem(db, "t2") is Redemption.FIRST  # its successor, same family
    assert not await refresh_tokens.family_revoked(db, "fam")
    assert await redeem(db, "t1") is Redemption.REUSED
    assert await refresh_tokens.family_revoked(db, "fam")
    # every token of the family is refused now, used or not
    assert await redeem(db, "t3") is Redemption.REVOKED
    assert await redeem(db, "t2") is Redemption.REUSED
    # another family is untouched
    assert await redeem(db, "o1", family="other") is Redemption.FIRST
    assert not await refresh_tokens.family_revoked(db, "other")
    async with db.session() as session:
        row = await session.get(UsedRefreshTokenRow, "t1")
        revoked = await session.get(RevokedTokenFamilyRow, "fam")
    assert row is not None and row.user_id == "u1" and row.used_at == NOW and row.expires_at == LATER
    assert revoked is not None and revoked.revoked_at == NOW
    assert revoked.revoked_by == "t1"  # the token whose reuse revoked the family


async def test_the_first_redeem_wins_when_a_losers_revocation_commits_before_its_check(db: Database) -> None:
    # The order a race can take: the winner's insert of t1 commits, a loser's insert fails
    # and its revocation (for reusing t1) commits, and only then does the winner read the
    # family. Replayed step by step: the winner's insert, the loser's whole redeem, then
    # the winner's read, through the revocation row the loser left.
    assert await redeem(db, "t1") is Redemption.FIRST
    assert await redeem(db, "t1") is Redemption.REUSED
    async with db.session() as session:
        await session.execute(UsedRefreshTokenRow.__table__.delete().where(UsedRefreshTokenRow.jti == "t1"))
        await session.commit()
    assert await redeem(db, "t1") is Redemption.FIRST  # the family was revoked for t1 itself
    # any other token of the family stays refused, and so does t1 from now on
    assert await redeem(db, "t2") is Redemption.REVOKED
    assert await redeem(db, "t1") is Redemption.REUSED


async def test_a_family_revoked_for_another_token_or_before_tokens_were_named_refuses(db: Database) -> None:
    await refresh_tokens.revoke_family(db, "fam", NOW, reused="t0")
    assert await redeem(db, "t1") is Redemption.REVOKED
    await refresh_tokens.revoke_family(db, "old", NOW)  # a row from before revocations named their token
    assert await redeem(db, "o1", family="old") is Redemption.REVOKED


async def test_revoking_twice_keeps_one_row(db: Database) -> None:
    await refresh_tokens.revoke_family(db, "fam", NOW)
    await refresh_tokens.revoke_family(db, "fam", LATER)
    assert await count(db, RevokedTokenFamilyRow.family) == 1


async def test_concurrent_redeems_of_one_token_give_exactly_one_success(db: Database, database_url: str) -> None:
    # Each redeem through a Database of its own, as from gateways on different machines.
    replicas = [Database(database_url) for _ in range(4)]
    try:
        outcomes = await asyncio.gather(*(redeem(replica, "t1") for replica in replicas + [db]))
    finally:
        for replica in replicas:
            await replica.close()
    assert sorted(o.value for o in outcomes) == ["first"] + ["reused"] * 4
    assert await refresh_tokens.family_revoked(db, "fam")
    assert await count(db, UsedRefreshTokenRow.jti) == 1


async def test_prune_deletes_only_what_no_token_needs(db: Database) -> None:
    for jti, expires in (("gone", NOW - timedelta(seconds=1)), ("kept", NOW), ("later", LATER)):
        assert await refresh_tokens.redeem(db, jti, jti, "u1", expires_at=expires, now=NOW - timedelta(days=30)) is Redemption.FIRST
    await refresh_tokens.revoke_family(db, "old", NOW - timedelta(days=20))
    await refresh_tokens.revoke_family(db, "new", NOW)
    assert await refresh_tokens.prune(db, NOW, revoked_before=NOW - timedelta(days=15)) == 2
    async with db.session() as session:
        used = set(await session.scalars(select(UsedRefreshTokenRow.jti)))
        revoked = set(await session.scalars(select(RevokedTokenFamilyRow.family)))
    assert used == {"kept", "later"} and revoked == {"new"}
    assert await refresh_tokens.prune(db, NOW, revoked_before=NOW - timedelta(days=15)) == 0

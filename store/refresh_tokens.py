"""Refresh-token rotation (the ProcessMaker face's token endpoint; api/auth.py).

A refresh token may be exchanged once. Redeeming it inserts its `jti` into
`used_refresh_tokens`; the primary key makes that insert the one atomic decision, in every
replica against the same database, so of two redeems of one token exactly one succeeds. A
second redeem is taken as theft (RFC 6749 section 10.4, OAuth 2.0 Security BCP): the token's
family (every token rotated from one password grant) goes into `revoked_token_families`,
and no token of a revoked family is accepted again.

The losers of a race revoke the family, and their revocation may commit before the winner
reads it. The revocation names the token whose reuse caused it, so the winner, which
redeemed that very token first, still succeeds (its successor joins the revoked family and
is refused).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Insert, delete, insert, select
from sqlalchemy.exc import IntegrityError

from store.db import Database
from store.tables import RevokedTokenFamilyRow, UsedRefreshTokenRow


class Redemption(enum.Enum):
    FIRST = "first"  # the token was unused and its family is not revoked: rotate it
    REUSED = "reused"  # the token was used before: its family is now revoked
    REVOKED = "revoked"  # the token's family was revoked earlier


async def redeem(
    db: Database, jti: str, family: str, user_id: str, expires_at: datetime, now: datetime
) -> Redemption:
    """Record that the refresh token `jti` of `family` is exchanged now, and say whether it
    may be. A reused token revokes its family."""
    used = insert(UsedRefreshTokenRow).values(jti=jti, user_id=user_id, used_at=now, expires_at=expires_at)
    if not await _insert_once(db, used):
        await revoke_family(db, family, now, reused=jti)
        return Redemption.REUSED
    # Checked after the insert, in a transaction of its own: no read precedes the write, so
    # concurrent redeems queue on the insert instead of racing from a stale snapshot.
    revoked, revoked_by = await _revocation(db, family)
    # revoked for a reuse of this very token, which this redeem used first: it keeps its win
    return Redemption.REVOKED if revoked and revoked_by != jti else Redemption.FIRST


async def revoke_family(db: Database, family: str, now: datetime, reused: str | None = None) -> None:
    """Revoke every refresh token of `family`, naming the token whose reuse revoked it;
    revoking it again (as two concurrent reuses may) changes nothing."""
    await _insert_once(db, insert(RevokedTokenFamilyRow).values(family=family, revoked_at=now, revoked_by=reused))


async def _insert_once(db: Database, statement: Insert) -> bool:
    """Run one INSERT in a transaction of its own; False when its primary key is taken."""
    async with db.session() as session:
        try:
            await session.execute(statement)
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return False
    return True


async def family_revoked(db: Database, family: str) -> bool:
    revoked, _ = await _revocation(db, family)
    return revoked


async def _revocation(db: Database, family: str) -> tuple[bool, str | None]:
    """Whether the family is revoked, and the token whose reuse revoked it (if recorded)."""
    query = select(RevokedTokenFamilyRow.revoked_by).where(RevokedTokenFamilyRow.family == family)
    async with db.session() as session:
        row = (await session.execute(query)).first()
    return (False, None) if row is None else (True, row[0])


async def prune(db: Database, used_expired_before: datetime, revoked_before: datetime) -> int:
    """Delete the used tokens that expired before `used_expired_before` and the families
    revoked before `revoked_before`; how many rows went. The caller picks the times so that
    every token a row stands for is refused by its own expiry by then."""
    async with db.session() as session:
        used = await session.execute(delete(UsedRefreshTokenRow).where(UsedRefreshTokenRow.expires_at < used_expired_before))
        revoked = await session.execute(delete(RevokedTokenFamilyRow).where(RevokedTokenFamilyRow.revoked_at < revoked_before))
        await session.commit()
    return used.rowcount + revoked.rowcount

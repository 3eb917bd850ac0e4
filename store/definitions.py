"""Deployed case definitions: immutable, numbered versions per definition id.

Callers pass the definition already validated, as a plain dict; this module only stores and
numbers it, so it needs nothing from `workflows/` or `api/`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from store.db import Database
from store.tables import DefinitionRow, utcnow

# A deploy that loses a race retries with the next number; each retry means another
# deploy of the same id committed, so this bounds how many racing deploys one survives.
MAX_DEPLOY_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class DefinitionRecord:
    id: str
    version: int
    name: str
    category: str
    body: dict[str, Any]
    digest: str
    deployed_at: datetime
    deployed_by: str


def canonical_json(body: Any) -> str:
    """Key order and whitespace must not make two equal definitions look different."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _record(row: DefinitionRow) -> DefinitionRecord:
    return DefinitionRecord(
        id=row.id,
        version=row.version,
        name=row.name,
        category=row.category,
        body=row.body,
        digest=row.digest,
        deployed_at=row.deployed_at,
        deployed_by=row.deployed_by,
    )


def _is_lock_timeout(exc: OperationalError) -> bool:
    # SQLite gives up on the write lock after its busy timeout; that is a lost race too.
    return "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower()


async def deploy(
    db: Database,
    definition_id: str,
    name: str,
    category: str,
    body: dict[str, Any],
    deployed_by: str,
) -> tuple[int, bool]:
    """Store `body` as the next version of `definition_id`.

    Returns (version, created). When the body is identical to the latest version, nothing
    is written and that version comes back with created=False, so deploying the same folder
    at every start does not bump versions.
    """
    # Serialising for the digest also proves the body is plain JSON before anything is written.
    digest = digest_of(body)
    for attempt in range(MAX_DEPLOY_ATTEMPTS):
        async with db.session() as session:
            latest = await session.scalar(
                select(DefinitionRow)
                .where(DefinitionRow.id == definition_id)
                .order_by(DefinitionRow.version.desc())
                .limit(1)
            )
            if latest is not None and latest.digest == digest:
                return latest.version, False
            version = 1 if latest is None else latest.version + 1
            session.add(
                DefinitionRow(
                    id=definition_id,
                    version=version,
                    name=name,
                    category=category,
                    body=body,
                    digest=digest,
                    deployed_at=utcnow(),
                    deployed_by=deployed_by,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
            except OperationalError as exc:
                await session.rollback()
                if not _is_lock_timeout(exc):
                    raise
            else:
                return version, True
        # Someone else took this version; jitter so racing deployers don't collide again.
        await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
    raise RuntimeError(f"could not deploy definition {definition_id!r}: too many concurrent deploys")


async def get(db: Database, definition_id: str, version: int | None = None) -> DefinitionRecord | None:
    """One version of a definition; the latest when `version` is None."""
    query = select(DefinitionRow).where(DefinitionRow.id == definition_id)
    if version is None:
        query = query.order_by(DefinitionRow.version.desc()).limit(1)
    else:
        query = query.where(DefinitionRow.version == version)
    async with db.session() as session:
        row = await session.scalar(query)
        return _record(row) if row is not None else None


async def list_latest(db: Database) -> list[DefinitionRecord]:
    """The latest version of every definition, ordered by id."""
    latest = (
        select(DefinitionRow.id, func.max(DefinitionRow.version).label("version"))
        .group_by(DefinitionRow.id)
        .subquery()
    )
    query = (
        select(DefinitionRow)
        .join(latest, (DefinitionRow.id == latest.c.id) & (DefinitionRow.version == latest.c.version))
        .order_by(DefinitionRow.id)
    )
    async with db.session() as session:
        return [_record(row) for row in await session.scalars(query)]


async def versions(db: Database, definition_id: str) -> list[DefinitionRecord]:
    """Every version of a definition, oldest first; empty when the id is unknown."""
    query = (
        select(DefinitionRow)
        .where(DefinitionRow.id == definition_id)
        .order_by(DefinitionRow.version)
    )
    async with db.session() as session:
        return [_record(row) for row in await session.scalars(query)]

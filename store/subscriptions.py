"""Webhook subscriptions and their deliveries (the dispatcher is activities/webhooks.py).

The feed (store/feed.py) is turned into deliveries per subscription in order: each step
takes the entries after the subscription's `cursor`, inserts a delivery for each one the
subscription wants and its owner may see, and moves the cursor, in one transaction that
only lands if the cursor is still where it was read, so two dispatchers never both do it.

A delivery is sent when it is due and is the oldest pending one of its case for its
subscription (so a receiver gets each case's events in order), by a dispatcher that first
leases it; a lease that runs out (its dispatcher died) lets another send it again, with the
same id. Deliveries that run out of attempts are set aside (`failed`) and no longer hold
their case back; an operator replays them.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import and_, delete, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from store import feed
from store.db import Database
from store.tables import DeliveryRow, SubscriptionRow
from workflows.engine import principals

ACTIVE, PAUSED = "active", "paused"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DeliveryStatus = Literal["pending", "delivered", "failed"]


class Filter(BaseModel):
    """Which events a subscription wants; each list that is given must match (an empty or
    absent list matches everything)."""

    types: list[str] = Field(default_factory=list, max_length=50, description="event kinds (TaskClaimed, CaseClosed, ...)")
    definitions: list[str] = Field(default_factory=list, max_length=50, description="definition ids")
    tasks: list[str] = Field(default_factory=list, max_length=50, description="task names or their ids in the definition")
    users: list[str] = Field(
        default_factory=list, max_length=50, description="user ids: the entry's actor, or a user the task is for (its holder, pool)"
    )
    groups: list[str] = Field(default_factory=list, max_length=50, description="group ids the task is for (its pool)")

    def matches(self, entry: feed.Entry) -> bool:
        if self.types and entry.kind not in self.types:
            return False
        if self.definitions and (entry.case is None or entry.case.definition_id not in self.definitions):
            return False
        task = entry.task
        if self.tasks and (task is None or not ({task.task_name, task.task_def_id, task.item_id} & set(self.tasks))):
            return False
        if self.users:
            concerned = {entry.user, task.assignee if task else None} | {p.removeprefix(principals.user("")) for p in entry.task_audience}
            if not concerned & set(self.users):
                return False
        if self.groups and not {principals.group(g) for g in self.groups} & entry.task_audience:
            return False
        return True


def new_secret() -> str:
    """A signing key as Standard Webhooks writes it: `whsec_` and 32 random bytes in base64."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def create(
    db: Database, owner_id: str, url: str, secret: str, filter_: Filter, description: str, now: datetime
) -> SubscriptionRow:
    """A new subscription gets the events committed from now on."""
    row = SubscriptionRow(
        id=f"sub_{uuid.uuid4().hex}", owner_id=owner_id, url=url, secret=secret, filter=filter_.model_dump(),
        description=description, state=ACTIVE, cursor=await feed.last_id(db), created_on=now,
    )
    async with db.session() as session:
        session.add(row)
        await session.commit()
    return row


async def owned_by(db: Database, owner_id: str | None) -> list[SubscriptionRow]:
    """The owner's subscriptions (every one for None), oldest first."""
    query = select(SubscriptionRow).order_by(SubscriptionRow.created_on, SubscriptionRow.id)
    if owner_id is not None:
        query = query.where(SubscriptionRow.owner_id == owner_id)
    async with db.session() as session:
        return list(await session.scalars(query))


async def get(db: Database, subscription_id: str) -> SubscriptionRow | None:
    async with db.session() as session:
        return await session.get(SubscriptionRow, subscription_id)


async def set_state(db: Database, subscription_id: str, state: str) -> None:
    async with db.session() as session:
        await session.execute(update(SubscriptionRow).where(SubscriptionRow.id == subscription_id).values(state=state))
        await session.commit()


async def remove(db: Database, subscription_id: str) -> None:
    async with db.session() as session:
        await session.execute(delete(DeliveryRow).where(DeliveryRow.subscription_id == subscription_id))
        await session.execute(delete(SubscriptionRow).where(SubscriptionRow.id == subscription_id))
        await session.commit()


async def deliveries(
    db: Database, subscription_id: str, status: str | None, offset: int, limit: int
) -> list[DeliveryRow]:
    """A subscription's deliveries, newest first."""
    query = select(DeliveryRow).where(DeliveryRow.subscription_id == subscription_id)
    if status is not None:
        query = query.where(DeliveryRow.status == status)
    async with db.session() as session:
        return list(await session.scalars(query.order_by(DeliveryRow.feed_id.desc()).offset(offset).limit(limit)))


async def replay(db: Database, subscription_id: str, delivery_id: str, now: datetime) -> DeliveryRow | None:
    """Send a delivery again (a set-aside one, or one delivered before), as a new series of
    attempts with the same id."""
    async with db.session() as session:
        row = await session.get(DeliveryRow, delivery_id)
        if row is None or row.subscription_id != subscription_id:
            return None
        row.status, row.attempts, row.next_attempt_at, row.leased_until = PENDING, 0, now, None
        await session.commit()
        await session.refresh(row)
        return row


# ------------------------------------------------------------------ the dispatcher's side


async def active(db: Database) -> list[SubscriptionRow]:
    async with db.session() as session:
        return list(await session.scalars(select(SubscriptionRow).where(SubscriptionRow.state == ACTIVE)))


async def advance(
    db: Database, plans: list[tuple[SubscriptionRow, list[feed.Entry]]], cursor: int, now: datetime
) -> list[str]:
    """For each (subscription, wanted entries): move its cursor to `cursor` and insert the
    deliveries of those entries, if no other dispatcher moved the cursor first (then nothing
    of that subscription is written). One transaction for all; the ids of the subscriptions
    advanced."""
    advanced: list[str] = []
    async with db.session() as session:
        for subscription, wanted in plans:
            moved = await session.execute(
                update(SubscriptionRow)
                .where(SubscriptionRow.id == subscription.id, SubscriptionRow.cursor == subscription.cursor)
                .values(cursor=cursor)
            )
            if moved.rowcount != 1:
                continue
            advanced.append(subscription.id)
            if wanted:
                await session.execute(insert(DeliveryRow), [
                    {"id": f"msg_{uuid.uuid4().hex}", "subscription_id": subscription.id, "feed_id": e.id, "case_id": e.case_id,
                     "kind": e.kind, "payload": {"type": e.kind, "timestamp": e.at.isoformat(), "data": e.document()},
                     "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_on": now}
                    for e in wanted
                ])
        await session.commit()
    return advanced


async def backlog(db: Database) -> tuple[dict[str, int], datetime | None]:
    """How many deliveries are pending and set aside, and when the oldest pending one was
    made (what operators watch: a growing backlog, or an old one, is a receiver in trouble)."""
    async with db.session() as session:
        counts = {status: 0 for status in (PENDING, FAILED)}
        by_status = select(DeliveryRow.status, func.count()).where(DeliveryRow.status.in_(list(counts))).group_by(DeliveryRow.status)
        for status, n in await session.execute(by_status):
            counts[status] = int(n)
        oldest = await session.scalar(select(func.min(DeliveryRow.created_on)).where(DeliveryRow.status == PENDING))
        return counts, oldest


async def forget_delivered(db: Database, before: datetime) -> int:
    """Drop deliveries delivered before `before` (set-aside ones stay until replayed or their
    subscription is deleted)."""
    async with db.session() as session:
        result = await session.execute(
            delete(DeliveryRow).where(DeliveryRow.status == DELIVERED, DeliveryRow.delivered_on < before)
        )
        await session.commit()
        return int(result.rowcount or 0)


async def lease_due(db: Database, now: datetime, lease: timedelta, limit: int) -> list[DeliveryRow]:
    """Lease up to `limit` deliveries that are due: pending, not leased (or their lease ran
    out), the oldest pending one of their case for their subscription, of an active
    subscription. Each is leased by a conditional update, so one dispatcher gets it."""
    earlier = aliased(DeliveryRow)
    head_of_case = ~exists().where(
        earlier.subscription_id == DeliveryRow.subscription_id, earlier.case_id == DeliveryRow.case_id,
        earlier.status == PENDING, earlier.feed_id < DeliveryRow.feed_id,
    )
    free = (DeliveryRow.leased_until.is_(None)) | (DeliveryRow.leased_until < now)
    due = (
        select(DeliveryRow.id)
        .join(SubscriptionRow, SubscriptionRow.id == DeliveryRow.subscription_id)
        .where(DeliveryRow.status == PENDING, DeliveryRow.next_attempt_at <= now, free, head_of_case,
               SubscriptionRow.state == ACTIVE)
        .order_by(DeliveryRow.next_attempt_at).limit(limit)
    )
    leased: list[str] = []  # ids
    async with db.session() as session:
        for delivery_id in list(await session.scalars(due)):
            got = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id, DeliveryRow.status == PENDING,
                       (DeliveryRow.leased_until.is_(None)) | (DeliveryRow.leased_until < now))
                .values(leased_until=now + lease)
            )
            if got.rowcount == 1:
                leased.append(delivery_id)
        await session.commit()
        if not leased:
            return []
        rows = await session.scalars(select(DeliveryRow).where(DeliveryRow.id.in_(leased)))
        return sorted(rows, key=lambda r: r.feed_id)


@dataclass
class Outcome:
    """One attempt's outcome: delivered (`error` None), or failed and tried again at
    `retry_at`, or set aside (`retry_at` None)."""

    delivery: DeliveryRow
    error: str | None = None
    retry_at: datetime | None = None


async def record(db: Database, outcomes: list[Outcome], now: datetime) -> None:
    """The outcomes of a round's attempts, in one transaction."""
    async with db.session() as session:
        for o in outcomes:
            values: dict[str, Any] = {"attempts": o.delivery.attempts + 1, "leased_until": None}
            if o.error is None:
                values.update(status=DELIVERED, delivered_on=now, last_error=None)
            else:
                values["last_error"] = o.error[:500]
                values.update({"status": FAILED} if o.retry_at is None else {"next_attempt_at": o.retry_at})
            await session.execute(
                update(DeliveryRow).where(and_(DeliveryRow.id == o.delivery.id, DeliveryRow.status == PENDING)).values(values)
            )
        await session.commit()

"""Webhook subscriptions (native face): create, list, read, pause, resume, delete, and the
deliveries of one, with replay of those set aside. Deliveries are made by the workers
(activities/webhooks.py); this module only keeps the subscriptions.

A subscription belongs to the user who made it and gets only the events of cases that user
may see; holders of PM_ALLCASES (operators) see and manage every subscription. Its URL must
be allowed by `CASEWORK_HTTP_ALLOW`, the same rule as every other outbound call.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from urllib.parse import urlsplit
from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, field_validator

from activities.outbound import OutboundPolicy, OutboundRefused
from api.deps import CurrentActor, Service
from api.errors import not_found, unprocessable
from store import subscriptions as store
from store.tables import DeliveryRow, SubscriptionRow
from workflows.public import Actor, sees_all

router = APIRouter(tags=["native"])
SubscriptionId = Annotated[str, Path(max_length=40)]


class SubscriptionBody(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="where deliveries are POSTed (http or https)")
    secret: str | None = Field(
        default=None, max_length=200,
        description="the signing key as Standard Webhooks writes it (`whsec_` and base64 of 24 to 64 bytes); made for you when absent",
    )
    filter: store.Filter = Field(default_factory=store.Filter)
    description: str = Field(default="", max_length=500)

    @field_validator("secret")
    @classmethod
    def _secret_reads(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the secret is 'whsec_' followed by base64") from None
        if not 24 <= len(key) <= 64:
            raise ValueError("the secret's key is 24 to 64 bytes")
        return value


class SubscriptionView(BaseModel):
    id: str
    url: str
    filter: store.Filter
    description: str
    state: str
    createdOn: datetime
    owner: str


class CreatedSubscription(SubscriptionView):
    secret: str = Field(description="the signing key: shown only in this answer")


class DeliveryView(BaseModel):
    id: str = Field(description="the webhook-id the receiver got (the same in every attempt)")
    eventId: int = Field(description="the event's id in the feed (as GET /events numbers it)")
    caseInstanceId: str
    kind: str
    status: str
    attempts: int
    nextAttemptAt: datetime | None
    lastError: str | None
    createdOn: datetime
    deliveredOn: datetime | None


def _shown_url(url: str) -> str:
    """A URL as someone other than its owner sees it: scheme, host and port only (hooks
    often carry their credential in the path or query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/..."


def _view(row: SubscriptionRow, actor: Actor | None = None) -> SubscriptionView:
    url = row.url if actor is None or row.owner_id == actor.user_id else _shown_url(row.url)
    return SubscriptionView(id=row.id, url=url, filter=store.Filter.model_validate(row.filter), description=row.description,
                            state=row.state, createdOn=row.created_on, owner=row.owner_id)


def _delivery(row: DeliveryRow) -> DeliveryView:
    return DeliveryView(
        id=row.id, eventId=row.feed_id, caseInstanceId=row.case_id, kind=row.kind, status=row.status, attempts=row.attempts,
        nextAttemptAt=row.next_attempt_at if row.status == store.PENDING else None, lastError=row.last_error,
        createdOn=row.created_on, deliveredOn=row.delivered_on,
    )


async def _mine(request: Request, subscription_id: str, actor: Actor) -> SubscriptionRow:
    """The subscription, if the caller owns it or is an operator; 404 otherwise (another
    user's subscription does not exist for them)."""
    row = await store.get(request.app.state.service.db, subscription_id)
    if row is None or not (row.owner_id == actor.user_id or sees_all(actor)):
        raise not_found(f"no subscription '{subscription_id}'")
    return row


@router.post("/subscriptions", status_code=201, response_model=CreatedSubscription)
async def create_subscription(body: SubscriptionBody, request: Request, actor: CurrentActor, svc: Service) -> CreatedSubscription:
    """Deliver the events of the cases the caller may see, from now on, to `url`."""
    try:
        httpx.URL(body.url).port  # reading the port is what checks it
    except (httpx.InvalidURL, ValueError, TypeError):
        raise unprocessable("the URL cannot be read", [{"field": "url", "message": "not a URL"}]) from None
    try:
        OutboundPolicy.parse(svc.settings.http_allow).check_url(body.url)
    except OutboundRefused as exc:
        raise unprocessable(f"the URL may not be called: {exc}", [{"field": "url", "message": str(exc)}]) from None
    most = svc.settings.webhook_max_per_user
    if len(await store.owned_by(svc.db, actor.user_id)) >= most:
        raise unprocessable(f"a user may have at most {most} subscriptions (CASEWORK_WEBHOOK_MAX_PER_USER)",
                            [{"field": "url", "message": "too many"}])
    secret = body.secret or store.new_secret()
    row = await store.create(svc.db, actor.user_id, body.url, secret, body.filter, body.description, datetime.now(UTC))
    return CreatedSubscription(**_view(row).model_dump(), secret=secret)


@router.get("/subscriptions", response_model=list[SubscriptionView])
async def list_subscriptions(actor: CurrentActor, svc: Service) -> list[SubscriptionView]:
    """The caller's subscriptions (every one for an operator), oldest first."""
    return [_view(r, actor) for r in await store.owned_by(svc.db, None if sees_all(actor) else actor.user_id)]


@router.get("/subscriptions/{subscriptionId}", response_model=SubscriptionView)
async def get_subscription(subscriptionId: SubscriptionId, request: Request, actor: CurrentActor) -> SubscriptionView:
    return _view(await _mine(request, subscriptionId, actor), actor)


async def _set_state(request: Request, subscription_id: str, actor: Actor, state: str) -> SubscriptionView:
    row = await _mine(request, subscription_id, actor)
    await store.set_state(request.app.state.service.db, row.id, state)
    row.state = state
    return _view(row, actor)


@router.post("/subscriptions/{subscriptionId}/pause", response_model=SubscriptionView)
async def pause_subscription(subscriptionId: SubscriptionId, request: Request, actor: CurrentActor) -> SubscriptionView:
    """Stop sending; events keep being recorded, and are sent after a resume."""
    return await _set_state(request, subscriptionId, actor, store.PAUSED)


@router.post("/subscriptions/{subscriptionId}/resume", response_model=SubscriptionView)
async def resume_subscription(subscriptionId: SubscriptionId, request: Request, actor: CurrentActor) -> SubscriptionView:
    return await _set_state(request, subscriptionId, actor, store.ACTIVE)


@router.delete("/subscriptions/{subscriptionId}", status_code=204, response_class=Response)
async def delete_subscription(subscriptionId: SubscriptionId, request: Request, actor: CurrentActor) -> Response:
    row = await _mine(request, subscriptionId, actor)
    await store.remove(request.app.state.service.db, row.id)
    return Response(status_code=204)


@router.get("/subscriptions/{subscriptionId}/deliveries", response_model=list[DeliveryView])
async def list_deliveries(
    subscriptionId: SubscriptionId, request: Request, actor: CurrentActor,
    status: Annotated[store.DeliveryStatus | None, Query(description="pending, delivered or failed (set aside)")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    numberOfResults: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryView]:
    """The subscription's deliveries, newest first."""
    row = await _mine(request, subscriptionId, actor)
    return [_delivery(d) for d in await store.deliveries(request.app.state.service.db, row.id, status, offset, numberOfResults)]


@router.post("/subscriptions/{subscriptionId}/deliveries/{deliveryId}/replay", status_code=202, response_model=DeliveryView)
async def replay_delivery(
    subscriptionId: SubscriptionId, deliveryId: Annotated[str, Path(max_length=40)], request: Request, actor: CurrentActor,
) -> DeliveryView:
    """Send a delivery again (one set aside, or one delivered), with the same webhook-id."""
    row = await _mine(request, subscriptionId, actor)
    replayed = await store.replay(request.app.state.service.db, row.id, deliveryId, datetime.now(UTC))
    if replayed is None:
        raise not_found(f"no delivery '{deliveryId}'")
    return _delivery(replayed)

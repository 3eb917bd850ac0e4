"""The webhook dispatcher: turns the event feed into signed deliveries and sends them.

It runs in every worker process beside the Temporal worker (any number of workers may run
it: store/subscriptions.py makes each step safe to race). Each round:

1. for each active subscription, the feed entries after its cursor become deliveries, those
   the filter wants and the subscription's owner may see now (by the directory and the
   read model, as the owner's own lists would show them);
2. due deliveries are leased and POSTed, signed the Standard Webhooks way (`webhook-id`,
   `webhook-timestamp`, `webhook-signature`: HMAC-SHA256 of `id.timestamp.body`), through
   the outbound allow-list (`CASEWORK_HTTP_ALLOW`) like every call the worker makes.

A 2xx answer delivers; anything else (another status, a refused connection, a timeout) is
tried again after a backoff that doubles up to an hour; after `webhook_max_attempts` the
delivery is set aside. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
from standardwebhooks.webhooks import Webhook

from activities.outbound import GuardedTransport, OutboundPolicy, OutboundRefused
from settings import Settings
from store import feed, subscriptions
from store.db import Database
from store.directory import Directory
from store.tables import DeliveryRow, SubscriptionRow
from workflows.public import principals_of, sees_all

log = logging.getLogger("casework.webhooks")
FEED_BATCH = 500
# deliveries leased and sent at once per round (their outcomes are written together)
SEND_BATCH = 200
MAX_BACKOFF = timedelta(hours=1)
PRUNE_EVERY_SECONDS = 3600.0


def backoff(attempts: int, base: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base, 2 base, 4 base, ... at most an hour."""
    return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class Dispatcher:
    def __init__(self, settings: Settings, db: Database, directory: Directory) -> None:
        self.settings = settings
        self.db = db
        self.directory = directory
        self.policy = OutboundPolicy.parse(settings.http_allow)
        self._http = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, transport=GuardedTransport(self.policy), trust_env=False,
            follow_redirects=False,
        )

    async def run(self) -> None:
        """Rounds until cancelled; a round that fails (the database away) is logged and the
        next one tries again. Delivered deliveries are kept `webhook_keep_days`."""
        pruned_at = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                busy = False
                try:
                    if loop.time() - pruned_at > PRUNE_EVERY_SECONDS:
                        pruned_at = loop.time()
                        await subscriptions.forget_delivered(self.db, _now() - timedelta(days=self.settings.webhook_keep_days))
                    busy = await self.round()
                except Exception:
                    log.warning("a webhook round failed; trying again", exc_info=True)
                if not busy:
                    await asyncio.sleep(self.settings.webhook_poll_seconds)
        finally:
            await self._http.aclose()

    async def round(self) -> bool:
        """One pass; True when there was work (the next pass follows at once)."""
        fanned = await self._fan_out(await subscriptions.active(self.db))
        due = await subscriptions.lease_due(self.db, _now(), self._lease(), SEND_BATCH)
        if due:
            by_subscription = {s.id: s for s in await subscriptions.active(self.db)}
            outcomes = await asyncio.gather(*(self._send(d, by_subscription.get(d.subscription_id)) for d in due),
                                            return_exceptions=True)
            await subscriptions.record(self.db, [o for o in outcomes if isinstance(o, subscriptions.Outcome)], _now())
        return bool(fanned or due)

    def _lease(self) -> timedelta:
        # longer than one attempt can take, so a live dispatcher keeps what it sends
        return timedelta(seconds=self.settings.webhook_timeout_seconds * 2 + 5)

    async def _fan_out(self, active: list[SubscriptionRow]) -> int:
        """One read of the feed serves every subscription: the entries after the lowest
        cursor, of which each subscription takes those after its own."""
        if not active:
            return 0
        entries = await feed.since(self.db, min(s.cursor for s in active), FEED_BATCH)
        if not entries:
            return 0
        end = entries[-1].id
        plans = [
            (s, self._wanted(s, [e for e in entries if e.id > s.cursor])) for s in active if s.cursor < end
        ]
        await subscriptions.advance(self.db, plans, end, _now())
        return len(entries)

    def _wanted(self, subscription: SubscriptionRow, entries: list[feed.Entry]) -> list[feed.Entry]:
        owner = self.directory.find(subscription.owner_id)
        if owner is None:  # an owner who left the directory gets nothing
            return []
        actor = owner.to_actor()
        principals, everything = frozenset(principals_of(actor)), sees_all(actor)
        rule = subscriptions.Filter.model_validate(subscription.filter)
        return [e for e in entries if e.visible_to(principals, everything) and rule.matches(e)]

    async def _send(self, delivery: DeliveryRow, subscription: SubscriptionRow | None) -> subscriptions.Outcome | None:
        if subscription is None:
            return None  # paused or deleted since it was leased: the lease runs out, nothing sent
        body = json.dumps(delivery.payload, separators=(",", ":"), default=str)
        at = _now()
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(subscription.secret).sign(delivery.id, at, body),
            "user-agent": "Casework-Webhooks",
        }
        error: str
        try:
            self.policy.check_url(subscription.url)
            # the whole attempt is bounded (httpx bounds each read, and a receiver may drip),
            # and the answer's body is never read: only its status counts
            status = await asyncio.wait_for(self._post(subscription.url, body, headers), self.settings.webhook_timeout_seconds)
            if 200 <= status < 300:
                return subscriptions.Outcome(delivery)
            error = f"the receiver answered {status}"
        except OutboundRefused as exc:
            error = f"refused by CASEWORK_HTTP_ALLOW: {exc}"
        except (httpx.HTTPError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: the receiver could not be reached in time"
        except Exception as exc:  # a URL httpx cannot use, or anything else: this delivery fails, not the round
            error = f"{type(exc).__name__}: the delivery could not be sent"
        attempts = delivery.attempts + 1
        retry_at = None if attempts >= self.settings.webhook_max_attempts else _now() + backoff(
            attempts, self.settings.webhook_retry_seconds
        )
        if retry_at is None:
            log.warning("delivery %s set aside after %d attempts: %s", delivery.id, attempts, error)
        return subscriptions.Outcome(delivery, error, retry_at)


    async def _post(self, url: str, body: str, headers: dict[str, str]) -> int:
        async with self._http.stream("POST", url, content=body.encode(), headers=headers) as resp:
            return resp.status_code


def _now() -> datetime:
    return datetime.now(UTC)

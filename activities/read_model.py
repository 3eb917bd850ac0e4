"""Activities that touch the read model: a case's recorded changes (`project_change`, a
regular activity, so it runs only after the workflow task that made the change is in the
history), the projection of runs from before that (`project_case`, a local activity), and
BALANCED assignment's round-robin counter (it spans cases, so it cannot live in one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from activities.messages import BalancedPick, BalancedPickRequest
from store import projection
from store.db import Database
from store.directory import Directory
from store.tables import BalancedCounterRow
from temporalio import activity
from workflows.engine.projection import CaseChange, CaseDoc


class ReadModelActivities:
    def __init__(self, db: Database, directory: Directory | None = None) -> None:
        self.db = db
        self.directory = directory
        self._lag: Any = None

    @activity.defn(name="project_case")
    async def project_case(self, doc: CaseDoc) -> bool:
        return await projection.write(self.db, doc)

    @activity.defn(name="project_change")
    async def project_change(self, change: CaseChange) -> str:
        """"written", "stale", or "gap": the store holds less than the workflow knew it did (a
        database restored from an older backup); the workflow then writes the whole case."""
        outcome = await projection.write_change(self.db, change)
        if outcome == "written":
            self._note_lag(change)
        if outcome == "gap":
            activity.logger.warning("case %s: the read model is behind version %d; rewriting it whole", change.doc.case_id, change.base)
        return outcome

    def _note_lag(self, change: CaseChange) -> None:
        """How long after the case recorded it a change reached the read model: changes no
        gateway wrote (timers, process tasks, sub-cases, a gateway that died), at the worker's
        metrics address (the gateway counts its own writes in its /metrics)."""
        if self._lag is None:
            # its buckets: projection.LAG_BUCKETS, set in the worker's runtime (worker.py)
            self._lag = activity.metric_meter().create_histogram_float(
                projection.LAG_METRIC, "Time from a case's change to its write into the read model, by the worker", "s"
            )
        self._lag.record(projection.lag_seconds(change.doc))

    @activity.defn(name="balanced_pick")
    async def balanced_pick(self, req: BalancedPickRequest) -> BalancedPick:
        pool = self._expand(req)
        if not pool:
            return BalancedPick(user_id=None)
        insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
        key = (BalancedCounterRow.definition_id == req.definition_id) & (BalancedCounterRow.task_def_id == req.task_def_id)
        async with self.db.session() as session:
            await session.execute(
                insert(BalancedCounterRow)
                .values(definition_id=req.definition_id, task_def_id=req.task_def_id, handed_out=0)
                .on_conflict_do_nothing()
            )
            # One atomic increment: concurrent picks across cases and workers each get
            # their own turn (a read-then-write would hand two of them the same user).
            turn = (
                await session.execute(
                    update(BalancedCounterRow).where(key)
                    .values(handed_out=BalancedCounterRow.handed_out + 1)
                    .returning(BalancedCounterRow.handed_out)
                )
            ).scalar_one()
            await session.commit()
        chosen = pool[(turn - 1) % len(pool)]
        return BalancedPick(user_id=chosen)

    def _expand(self, req: BalancedPickRequest) -> list[str]:
        """The pool as directory user ids, in a stable order; without a directory, as named."""
        if self.directory is None:
            return sorted(set(req.users))
        ids: set[str] = set()
        for name in req.users:
            found = self.directory.find(name)
            ids.add(found.id if found else name)
        for g in req.groups:
            ids |= {u.id for u in self.directory.members_of(g)}
        return sorted(ids)

"""The raw-Temporal baselines of the benchmarks: an update whose handler does nothing but answer
(bench/actions.py, bench/throughput.py, bench/freshness.py), a start (bench/throughput.py), and
a signal whose workflow then runs one activity that does nothing (bench/freshness.py: the floor
of "a change no gateway saw reaches a store outside Temporal")."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    def __init__(self) -> None:
        self.done = False
        self.pokes: list[int] = []

    @workflow.run
    async def run(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self.done or bool(self.pokes))
            if self.done:
                return
            n = self.pokes.pop(0)
            # The activity is registered by the benchmark that sends `poke` (bench/freshness.py).
            await workflow.execute_activity("bare_noted", n, start_to_close_timeout=timedelta(seconds=30))

    @workflow.update
    async def touch(self, n: int) -> int:
        return n

    @workflow.signal
    def poke(self, n: int) -> None:
        self.pokes.append(n)


@workflow.defn(name="UpsertingWorkflow")
class UpsertingWorkflow:
    """An update that upserts a keyword-list search attribute and/or answers 3 KB, or neither
    (bench/upserts.py: what each costs the server)."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def touch(self, mode: str) -> str:
        if "upsert" in mode:
            holder = f"user-{workflow.random().randrange(1_000_000)}"
            workflow.upsert_search_attributes([SearchAttributeKey.for_keyword_list("CaseAssignees").value_set([holder])])
        return "x" * 3000 if "answer" in mode else mode

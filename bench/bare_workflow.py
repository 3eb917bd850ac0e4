"""The baseline of bench/actions.py: an update whose handler does nothing but answer."""

from temporalio import workflow


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def touch(self, n: int) -> int:
        return n

"""What a parent needs before it starts a sub-case: the definition's latest version and a
case number, both from the store (I/O the workflow cannot do itself)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messages import SubCaseRequest, SubCaseSetup
from store import case_numbers, definitions
from store.db import Database
from workflows.definition import Definition


class SubCaseActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name="prepare_sub_case")
    async def prepare_sub_case(self, req: SubCaseRequest) -> SubCaseSetup:
        record = await definitions.get(self.db, req.definition_id)
        if record is None:
            raise ApplicationError(f"no deployed definition '{req.definition_id}'", type="NoDefinition", non_retryable=True)
        definition = Definition.model_validate({**record.body, "version": record.version})
        number = await case_numbers.allocate(self.db, req.case_id)
        return SubCaseSetup(definition=definition, case_number=number)

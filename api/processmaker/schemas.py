"""The ProcessMaker face's request bodies and answers (seed `001`, "Cases"), in its field names."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


# ------------------------------------------------------------------ bodies and answers


class _Body(BaseModel):
    # ProcessMaker clients send more than we read (executeTriggersBeforeAssignment, ...).
    model_config = ConfigDict(extra="ignore")


Variables = list[dict[str, Any]] | dict[str, Any] | None


class NewCaseBody(_Body):
    pro_uid: str | None = Field(default=None, max_length=200)
    tas_uid: str | None = Field(default=None, max_length=200)
    variables: Variables = Field(default=None, description="One object of case variables inside an array (the seed's format); a bare object is accepted too.")


class ImpersonateBody(NewCaseBody):
    usr_uid: str | None = Field(default=None, max_length=200)


class NextTask(BaseModel):
    """A task a start or a route made available to the caller (offered or assigned), so a
    client opens its form at once: not in the seed, which answers routing with nothing."""

    app_uid: str
    tas_uid: str
    tas_title: str
    del_index: int
    usr_uid: str


class NewCaseAnswer(BaseModel):
    app_uid: str
    app_number: int


class RouteAnswer(BaseModel):
    next_tasks: list[NextTask]


class CurrentTaskOfCase(BaseModel):
    usr_uid: str
    usr_name: str
    tas_uid: str
    tas_title: str
    del_index: int
    del_thread: int
    del_thread_status: Literal["OPEN", "CLOSED"]


class CaseInfo(BaseModel):
    app_uid: str
    app_number: str
    app_name: str
    app_status: str
    app_init_usr_uid: str
    app_init_usr_username: str
    pro_uid: str
    pro_name: str
    app_create_date: str | None
    app_update_date: str | None
    current_task: list[CurrentTaskOfCase]


class CurrentTask(BaseModel):
    tas_uid: str
    tas_title: str
    del_index: str


class RouteTo(BaseModel):
    rou_number: int
    rou_condition: str
    # -1: the end of the process (the seed's value for a task with nowhere to go)
    tas_uid: str | int


class RouteInfo(BaseModel):
    type: str
    to: list[RouteTo]


class DelegationInfo(BaseModel):
    del_index: int
    del_init_date: str
    del_task_due_date: str
    del_finish_date: str
    del_duration: str
    usr_uid: str
    usr_username: str
    usr_firstname: str
    usr_lastname: str


class TaskOfCase(BaseModel):
    tas_uid: str
    tas_title: str
    tas_description: str
    tas_start: int
    tas_type: Literal["NORMAL", "ADHOC", "SUBPROCESS"]
    tas_derivation: Literal["NORMAL"] = "NORMAL"
    tas_assign_type: str
    usr_uid: str
    usr_username: str
    usr_firstname: str
    usr_lastname: str
    route: RouteInfo
    delegations: list[DelegationInfo]
    status: Literal["TASK_IN_PROGRESS", "TASK_COMPLETED", "TASK_PENDING_NOT_EXECUTED", "TASK_PARALLEL"]


class StartingTask(BaseModel):
    tas_uid: str
    pro_title: str
    pro_uid: str


class DelIndexBody(_Body):
    del_index: int | None = Field(default=None, ge=1)


class RouteBody(DelIndexBody):
    next_tas_uid: str | None = Field(
        default=None, max_length=200,
        description="Extension for SELECT routes: the task to route to (one of the route's targets).",
    )


class ReassignBody(DelIndexBody):
    usr_uid_source: str | None = Field(default=None, max_length=200)
    usr_uid_target: str | None = Field(default=None, max_length=200)


class BatchCase(_Body):
    APP_UID: str = Field(max_length=200)
    DEL_INDEX: int = Field(ge=1)


class BatchReassignBody(_Body):
    cases: list[BatchCase] | None = None
    usr_uid_target: str | None = Field(default=None, max_length=200)


BatchStatus = Literal[
    "SUCCESS", "DELEGATION_NOT_EXISTS", "DELEGATION_NOT_ASSIGNED", "USER_NOT_ASSIGNED_TO_TASK",
    "REASSIGNMENT_TO_THE_SAME_USER", "CASE_PAUSED", "NOT_ALLOWED", "ERROR",
]


class BatchResult(BaseModel):
    app_uid: str
    del_index: int
    result: Literal[0, 1]
    status: BatchStatus


class BatchAnswer(BaseModel):
    cases: list[BatchResult]


class PauseBody(_Body):
    unpaused_date: str | None = Field(default=None, max_length=40)

"""Inputs and results of the activities, shared by the workflow and the worker."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from workflows.definition import Definition


class HttpRequest(BaseModel):
    case_id: str
    item_id: str
    method: str
    url: str
    json_body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    # case variable -> JSON path into the response body
    output: dict[str, str] = Field(default_factory=dict)


class HttpResult(BaseModel):
    status: int
    output: dict[str, Any] = Field(default_factory=dict)


class ValidationRequest(BaseModel):
    case_id: str
    item_id: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    output: dict[str, Any]


class ValidationResult(BaseModel):
    valid: bool
    errors: list[dict[str, Any]] = Field(default_factory=list)


class SubCaseRequest(BaseModel):
    definition_id: str
    case_id: str


class SubCaseSetup(BaseModel):
    definition: Definition
    case_number: int


class BalancedPickRequest(BaseModel):
    definition_id: str
    task_def_id: str
    # the task's pool: user ids or usernames, and groups the directory expands
    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class BalancedPick(BaseModel):
    user_id: str | None = None

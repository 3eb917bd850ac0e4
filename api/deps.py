"""The dependencies every face shares: the case service, the caller, the directory, the
Idempotency-Key header. One place, so the faces never import each other.

They are `async def`: FastAPI runs a plain `def` dependency in a worker thread, a hop that
cost more than the dependency on every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api import consistency
from api.auth import current_actor
from api.service import CaseService
from store.directory import Directory
from workflows.public import Actor


async def service(request: Request) -> CaseService:
    return request.app.state.service


async def directory(request: Request) -> Directory:
    return request.app.state.directory


Service = Annotated[CaseService, Depends(service)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
Users = Annotated[Directory, Depends(directory)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]+$",
           description="The same key sent again has one effect and gets the same answer."),
]


async def if_match(
    value: Annotated[str | None, Header(alias="If-Match", max_length=2000,
                                        description="Act only if the case is still at this ETag; 412 otherwise.")] = None,
) -> list[int] | None:
    return consistency.if_match(value)


# the versions a conditional action may find the case at (None: unconditional)
IfMatch = Annotated[list[int] | None, Depends(if_match)]

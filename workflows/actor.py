"""Who is acting: the gateway authenticates, and this travels with every command."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Actor(BaseModel):
    """An authenticated caller as the engine sees it.

    `user_id` is the directory id; `username` matters because definitions may name users by
    either. Groups and permissions come from the directory (or the OIDC token's claims).
    """

    user_id: str
    username: str = ""
    groups: list[str] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)
    # the directory's `reportsTo`: whom a REPORT_TO task started by this user's action goes to
    reports_to: str | None = None

    def is_named_by(self, names: list[str]) -> bool:
        """True when a list of user ids or usernames names this actor."""
        return self.user_id in names or (bool(self.username) and self.username in names)

    def in_any_group(self, groups: list[str]) -> bool:
        return any(g in self.groups for g in groups)

    @property
    def is_system(self) -> bool:
        """The shell acting on its own (timers, effects): no user's action."""
        return self.user_id == SYSTEM_ID


SYSTEM_ID = "system"
SYSTEM = Actor(user_id=SYSTEM_ID, username=SYSTEM_ID)

"""How the read model names users and groups: `user:<id or username>` and `group:<id>`.

Definitions name users by id or username, so a user may match either form; a query passes
all of a caller's principals. Kept apart so `access` and `projection` share one spelling.
"""

from __future__ import annotations


def user(name: str) -> str:
    return f"user:{name}"


def group(name: str) -> str:
    return f"group:{name}"

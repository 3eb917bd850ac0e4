"""The user directory: a YAML file of groups and users (DESIGN.md section 6).

Passwords are argon2id PHC strings; a clear-text password in the file is refused at load
time. To hash one for the file: `python -m store.directory hash` (reads stdin).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from workflows.actor import Actor

# argon2-cffi's defaults are the RFC 9106 "low memory" profile (argon2id, t=3, m=64 MiB,
# p=4): the parameters the directory's example hashes use.
_hasher = PasswordHasher()


class DirectoryError(ValueError):
    """The directory file is unreadable or invalid. Messages never contain a password."""


def hash_password(plain: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id PHC string for `plain` (production parameters unless a hasher is given)."""
    return (hasher or _hasher).hash(plain)


def is_argon2id_hash(value: str) -> bool:
    try:
        return extract_parameters(value).type is Type.ID
    except (InvalidHashError, ValueError):
        return False


@cache
def _dummy_hash(memory_cost: int, time_cost: int, parallelism: int) -> str:
    # Verified against when the username is unknown, so that a wrong username costs as
    # long as a wrong password and the timing does not reveal which usernames exist.
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    return hasher.hash("casework: no such user")


class _Model(BaseModel):
    # extra=forbid: a misspelt key (e.g. `reportTo`) is an error, not silently ignored.
    # hide_input_in_errors: pydantic must never print a password it is complaining about.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, hide_input_in_errors=True, frozen=True)


class DirectoryGroup(_Model):
    id: str = Field(min_length=1)
    name: str = ""


class DirectoryUser(_Model):
    id: str = Field(min_length=1)
    username: str = Field(min_length=1)
    first_name: str = Field(default="", alias="firstName")
    last_name: str = Field(default="", alias="lastName")
    email: str = ""
    password: str = Field(repr=False)
    groups: list[str] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)
    reports_to: str | None = Field(default=None, alias="reportsTo")

    @model_validator(mode="after")
    def _password_is_hashed(self) -> DirectoryUser:
        # Checked here rather than on the field so the error can name the user.
        if not is_argon2id_hash(self.password):
            raise ValueError(
                f"user {self.username!r}: password must be an argon2id hash ($argon2id$...), "
                "not clear text; create one with `python -m store.directory hash`"
            )
        return self

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.username

    def to_actor(self) -> Actor:
        return Actor(
            user_id=self.id,
            username=self.username,
            groups=list(self.groups),
            permissions=list(self.permissions),
            reports_to=self.reports_to,
        )


class Directory(_Model):
    groups: list[DirectoryGroup] = Field(default_factory=list)
    users: list[DirectoryUser] = Field(default_factory=list)

    _by_id: dict[str, DirectoryUser] = PrivateAttr(default_factory=dict)
    _by_username: dict[str, DirectoryUser] = PrivateAttr(default_factory=dict)
    _groups: dict[str, DirectoryGroup] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Directory:
        problems: list[str] = []
        for group in self.groups:
            if group.id in self._groups:
                problems.append(f"group id {group.id!r} is used twice")
            self._groups[group.id] = group
        for user in self.users:
            if user.id in self._by_id:
                problems.append(f"user id {user.id!r} is used twice")
            if user.username in self._by_username:
                problems.append(f"username {user.username!r} is used twice")
            self._by_id.setdefault(user.id, user)
            self._by_username.setdefault(user.username, user)
        for user in self.users:
            for group_id in user.groups:
                if group_id not in self._groups:
                    problems.append(f"user {user.username!r}: group {group_id!r} does not exist")
            if user.reports_to is not None and user.reports_to not in self._by_id:
                problems.append(f"user {user.username!r}: reportsTo {user.reports_to!r} is not a user id")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def load(cls, path: Path | str) -> Directory:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DirectoryError(f"cannot read the directory file {str(path)!r}: {exc}") from None
        return cls.parse(data if data is not None else {}, source=str(path))

    @classmethod
    def parse(cls, data: Any, source: str = "directory") -> Directory:
        """Validate already-loaded data; errors are rewritten so they name no input value."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            lines = []
            for error in exc.errors(include_input=False, include_url=False):
                where = ".".join(str(part) for part in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                lines.append(f"{where}: {message}" if where else message)
            raise DirectoryError(f"invalid directory {source!r}: " + "; ".join(lines)) from None

    @property
    def _dummy(self) -> str:
        # Costed like the file's own hashes (its first user's parameters), else like ours.
        params = extract_parameters(self.users[0].password) if self.users else None
        if params is None:
            return _dummy_hash(_hasher.memory_cost, _hasher.time_cost, _hasher.parallelism)
        return _dummy_hash(params.memory_cost, params.time_cost, params.parallelism)

    def by_id(self, user_id: str) -> DirectoryUser | None:
        return self._by_id.get(user_id)

    def by_username(self, username: str) -> DirectoryUser | None:
        return self._by_username.get(username)

    def find(self, id_or_username: str) -> DirectoryUser | None:
        """Definitions and clients may name a user either way; the id wins a tie."""
        return self._by_id.get(id_or_username) or self._by_username.get(id_or_username)

    def group(self, group_id: str) -> DirectoryGroup | None:
        return self._groups.get(group_id)

    def members_of(self, group_id: str) -> list[DirectoryUser]:
        return [user for user in self.users if group_id in user.groups]

    def authenticate(self, username: str, password: str) -> DirectoryUser | None:
        """The user when the password is right, else None. CPU-heavy (argon2): call it
        from a thread, not the event loop."""
        user = self._by_username.get(username)
        try:
            _hasher.verify(user.password if user is not None else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        return user


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    # Piped: the first line, without its line break (so `echo secret |` works).
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m store.directory", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("hash", help="read a password from stdin and print its argon2id hash")
    parser.parse_args(argv)
    password = _read_password()
    if not password:
        print("an empty password cannot be hashed", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

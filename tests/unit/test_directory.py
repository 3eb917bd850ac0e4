"""The directory file: loading, validation, authentication."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher

from store.directory import Directory, DirectoryError, hash_password, is_argon2id_hash
from workflows.actor import Actor

ROOT = Path(__file__).resolve().parents[2]
# Cheap parameters keep the tests fast; production uses argon2-cffi's defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {name: hash_password(f"{name}-pw", hasher=FAST) for name in ("admin", "alice", "bob")}


def directory_data(hashes: dict[str, str]) -> dict[str, Any]:
    return {
        "groups": [{"id": "managers", "name": "Managers"}, {"id": "clerks", "name": "Clerks"}],
        "users": [
            {
                "id": "00000000000000000000000000000001",
                "username": "admin",
                "firstName": "Administrator",
                "lastName": "",
                "email": "admin@example.com",
                "password": hashes["admin"],
                "groups": ["managers"],
                "permissions": ["PM_CASES", "PM_ALLCASES"],
                "reportsTo": None,
            },
            {
                "id": "u-alice",
                "username": "alice",
                "firstName": "Alice",
                "lastName": "Liddell",
                "email": "alice@example.com",
                "password": hashes["alice"],
                "groups": ["clerks", "managers"],
                "permissions": ["PM_CASES"],
                "reportsTo": "00000000000000000000000000000001",
            },
            {
                "id": "u-bob",
                "username": "bob",
                "firstName": "Bob",
                "lastName": "",
                "email": "bob@example.com",
                "password": hashes["bob"],
                "groups": ["clerks"],
                "permissions": [],
                "reportsTo": "u-alice",
            },
        ],
    }


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_error(tmp_path: Path, data: Any) -> str:
    with pytest.raises(DirectoryError) as info:
        Directory.load(write(tmp_path, data))
    return str(info.value)


def test_loads_a_good_file(tmp_path: Path, hashes: dict[str, str]) -> None:
    directory = Directory.load(write(tmp_path, directory_data(hashes)))
    assert [g.id for g in directory.groups] == ["managers", "clerks"]
    alice = directory.by_username("alice")
    assert alice is not None and alice.id == "u-alice"
    assert alice.first_name == "Alice" and alice.last_name == "Liddell" and alice.full_name == "Alice Liddell"
    assert alice.reports_to == "00000000000000000000000000000001"
    assert directory.by_id("u-bob") is not None and directory.by_id("bob") is None
    assert directory.find("bob") is directory.find("u-bob") is not None
    assert directory.find("nobody") is None
    assert [u.username for u in directory.members_of("managers")] == ["admin", "alice"]
    assert [u.username for u in directory.members_of("clerks")] == ["alice", "bob"]
    assert directory.members_of("nobody") == []
    assert alice.to_actor() == Actor(
        user_id="u-alice", username="alice", groups=["clerks", "managers"], permissions=["PM_CASES"],
        reports_to="00000000000000000000000000000001",
    )
    # The password hash never shows in a repr (logs, tracebacks).
    assert hashes["alice"] not in repr(alice)


def test_empty_file_is_an_empty_directory(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    directory = Directory.load(path)
    assert directory.users == [] and directory.authenticate("x", "y") is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="cannot read"):
        Directory.load(tmp_path / "missing.yaml")


def test_duplicate_user_id(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    data["users"][2]["id"] = "u-alice"
    assert "user id 'u-alice' is used twice" in load_error(tmp_path, data)


def test_duplicate_username(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    data["users"][2]["username"] = "alice"
    assert "username 'alice' is used twice" in load_error(tmp_path, data)


def test_duplicate_group(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    data["groups"].append({"id": "clerks", "name": "Again"})
    assert "group id 'clerks' is used twice" in load_error(tmp_path, data)


def test_unknown_group(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    data["users"][2]["groups"] = ["clerks", "ghosts"]
    assert "user 'bob': group 'ghosts' does not exist" in load_error(tmp_path, data)


def test_reports_to_must_be_a_user(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    data["users"][2]["reportsTo"] = "alice"  # a username, not an id
    assert "user 'bob': reportsTo 'alice' is not a user id" in load_error(tmp_path, data)


def test_unknown_key_is_refused(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    data["users"][2]["reportTo"] = "u-alice"
    assert "reportTo" in load_error(tmp_path, data)


def test_missing_required_field(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    del data["users"][1]["username"]
    assert "users.1.username" in load_error(tmp_path, data)


def test_clear_text_password_is_refused(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    data["users"][2]["password"] = "hunter2-clear-text"
    message = load_error(tmp_path, data)
    assert "'bob'" in message and "argon2id" in message
    assert "hunter2-clear-text" not in message


def test_other_hash_kinds_are_refused(tmp_path: Path, hashes: dict[str, str]) -> None:
    data = directory_data(hashes)
    data["users"][0]["password"] = hashes["admin"].replace("$argon2id$", "$argon2i$")
    assert "user 'admin': password must be an argon2id hash" in load_error(tmp_path, data)
    data["users"][0]["password"] = "$argon2id$v=19$m=65536,t=3,p=4$..."  # the design's placeholder
    assert "user 'admin'" in load_error(tmp_path, data)


def test_hash_password_makes_argon2id() -> None:
    hashed = hash_password("s3cret")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert is_argon2id_hash(hashed)
    assert not is_argon2id_hash("s3cret")


def test_authenticate(tmp_path: Path, hashes: dict[str, str]) -> None:
    directory = Directory.load(write(tmp_path, directory_data(hashes)))
    alice = directory.authenticate("alice", "alice-pw")
    assert alice is not None and alice.id == "u-alice"
    assert directory.authenticate("alice", "bob-pw") is None
    assert directory.authenticate("alice", "") is None
    assert directory.authenticate("nobody", "alice-pw") is None
    # Usernames, not ids, log in.
    assert directory.authenticate("u-alice", "alice-pw") is None


def test_hash_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "store.directory", "hash"],
        input="from-stdin\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    hashed = result.stdout.strip()
    assert is_argon2id_hash(hashed)
    assert PasswordHasher().verify(hashed, "from-stdin")

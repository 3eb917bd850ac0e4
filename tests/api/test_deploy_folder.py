"""The definitions folder deployed at start: order does not matter, and a bad file stops the
start with its name and the problem's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.service import CaseService, definition_files
from settings import Settings
from store import definitions
from store.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")

# "a-parent" sorts before the "b-child" it starts as a sub-case
PARENT = """
id: a-parent
name: Parent
plan:
  items:
    - {id: sub, type: caseTask, name: Sub, definition: b-child}
"""
CHILD = """
id: b-child
name: Child
plan:
  items:
    - {id: m, type: milestone, name: M}
"""


@pytest.fixture
async def service(tmp_path: Path) -> CaseService:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await db.init()
    yield CaseService(Settings(data_dir=tmp_path), client=None, db=db, directory=None)  # type: ignore[arg-type]
    await db.close()


async def test_definitions_that_name_each_other_deploy_in_any_order(service: CaseService, tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "a-parent.yaml").write_text(PARENT)
    (folder / "b-child.yaml").write_text(CHILD)
    assert await service.deploy_files(definition_files(folder)) == ["a-parent@1", "b-child@1"]
    assert await service.deploy_files(definition_files(folder)) == ["a-parent@1 (unchanged)", "b-child@1 (unchanged)"]
    assert {r.id for r in await definitions.list_latest(service.db)} == {"a-parent", "b-child"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PARENT, "plan.items[0].definition: no deployed definition 'b-child'"),  # its sub-case is missing
        (CHILD.replace("milestone", "robot"), "plan.items[0]"),
        ("id: [unclosed", "not valid YAML or JSON at line 1"),
    ],
    ids=["unknown sub-case", "bad shape", "bad YAML"],
)
async def test_a_bad_file_stops_the_start_naming_the_file(service: CaseService, tmp_path: Path, text: str, message: str) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "broken.yaml").write_text(text)
    with pytest.raises(RuntimeError) as err:
        await service.deploy_files(definition_files(folder))
    assert str(err.value).startswith(f"{folder / 'broken.yaml'}: ") and message in str(err.value)
    assert await definitions.list_latest(service.db) == []

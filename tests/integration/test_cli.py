"""The operator CLI (`casework`, cli/) against a real system: a dev server, a worker and a
gateway. Each command runs as the operator runs it, a process of its own with the system's
CASEWORK_* settings; what it prints and what it changes are checked against the gateway and
the read model."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

CASEWORK = Path(sys.executable).parent / "casework"  # the console script pip installed
NEW_DEFINITION = """
id: cli-intake
name: Intake
plan:
  items:
    - {id: check, type: humanTask, name: Check, role: clerk}
roles:
  clerk: {groups: [reviewers]}
"""


def casework(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CASEWORK), *args], env={**os.environ, **env}, input=stdin, capture_output=True, text=True, timeout=120)


def ok(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr}"
    return run.stdout


def one_line_failure(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 1, f"exit {run.returncode}: {run.stdout} {run.stderr}"
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    return run.stderr.strip()


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute(sql).fetchall(), key=repr)


READ_MODEL = {
    "cases": "SELECT * FROM cases",
    "delegations": "SELECT * FROM delegations",
    "principals": "SELECT * FROM delegation_principals",
    "participations": "SELECT * FROM participations",
    "audit": "SELECT case_id, seq, at, user, action, item_id, detail, event FROM audit_entries",
}


async def test_the_cli_deploys_lists_shows_mints_downloads_replays_and_rebuilds_the_read_model(tmp_path: Path) -> None:
    stack = await Stack(tmp_path).start()
    env = stack.cli_env
    try:
        gateway = stack.gateway_list[0]
        async with httpx.AsyncClient(base_url=gateway.url, timeout=20.0) as http:
            # a token the CLI mints is one the gateway takes; an unknown user is one line
            token = ok(casework(env, "token", "rev1")).strip()
            assert (await http.get("/tasks", headers={"Authorization": f"Bearer {token}"})).status_code == 200
            assert "no such user" in one_line_failure(casework(env, "token", "nobody"))
            hashed = ok(casework(env, "hash-password", stdin="s3cret\n")).strip()
            assert hashed.startswith("$argon2id$")

            # definitions: deploy (again: unchanged), a bad one refused naming its file, list
            (tmp_path / "intake.yaml").write_text(NEW_DEFINITION)
            assert ok(casework(env, "definitions", "deploy", str(tmp_path / "intake.yaml"))).split() == ["cli-intake@1"]
            assert "(unchanged)" in ok(casework(env, "definitions", "deploy", str(tmp_path / "intake.yaml")))
            (tmp_path / "broken.yaml").write_text(NEW_DEFINITION.replace("humanTask", "robot"))
            refused = one_line_failure(casework(env, "definitions", "deploy", str(tmp_path / "broken.yaml")))
            assert str(tmp_path / "broken.yaml") in refused and "plan.items[0]" in refused
            listed = json.loads(ok(casework(env, "definitions", "list", "--json")))
            assert {(d["id"], d["version"]) for d in listed} >= {("cli-intake", 1), ("review", 1)}

            # cases through the gateway: one open with a claimed task and a file, one completed
            async def act(method: str, path: str, user: str, **kw: Any) -> dict[str, Any]:
                resp = await http.request(method, path, headers=stack.auth(user), **kw)
                assert resp.status_code < 300, resp.text
                return resp.json() if resp.content else {}

            open_case = (await act("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": "open"}}))["caseInstanceId"]
            await act("PUT", f"/tasks/{open_case}.review/claim", "rev1")
            await act("PUT", f"/cases/{open_case}/casefile", "author", json={"note": "kept"})
            done_case = (await act("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": "done"}}))["caseInstanceId"]
            await act("PUT", f"/tasks/{done_case}.review/claim", "rev2")
            await act("POST", f"/tasks/{done_case}.review/complete", "rev2", json={"verdict": "reject"})
            done_view = await act("GET", f"/cases/{done_case}", "author")
            assert done_view["state"] == "Completed"
            # the read model has caught up with both (a list waits for the gateway's writes)
            await act("GET", "/cases", "admin")

        listed_cases = json.loads(ok(casework(env, "cases", "list", "--json")))
        assert {c["case_id"] for c in listed_cases} == {open_case, done_case}
        assert [c["case_id"] for c in json.loads(ok(casework(env, "cases", "list", "--state", "Completed", "--json")))] == [done_case]
        table = ok(casework(env, "cases", "list")).splitlines()
        assert table[0].split()[:3] == ["CASE", "NUMBER", "DEFINITION"] and len(table) == 3

        shown = json.loads(ok(casework(env, "cases", "show", open_case)))
        assert shown["inStep"] is True and shown["readModelVersion"] == shown["caseVersion"] > 1
        assert shown["case"]["file"] == {"subject": "open", "note": "kept"} and shown["workflow"]["status"] == "RUNNING"
        [task] = [t for t in shown["readModel"]["tasks"] if t["item_id"] == "review"]
        assert task["task_state"] == "Assigned" and task["open"] is True
        assert "no case 'nope'" in one_line_failure(casework(env, "cases", "show", "nope"))

        # rebuild into an empty read model (lost, or made after its cases): it ends equal, row
        # for row, to the one the system wrote as the cases went, the completed case included
        live = tmp_path / "casework.db"
        fresh_env = {**env, "CASEWORK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'rebuilt.db'}"}
        out = ok(casework(fresh_env, "rebuild")).splitlines()
        assert out[-1] == "2 cases: 2 written, 0 up to date, 0 failed", out
        for table_name, sql in READ_MODEL.items():
            assert rows(tmp_path / "rebuilt.db", sql) == rows(live, sql), table_name
        # each rebuilt case joins the event feed after its last entry: its past is not sent
        # to streams and webhooks again, and its next entry follows
        last = dict(rows(live, "SELECT case_id, MAX(seq) FROM audit_entries GROUP BY case_id"))
        assert dict(rows(tmp_path / "rebuilt.db", "SELECT case_id, seq FROM event_feed")) == last
        # again: nothing to do
        assert ok(casework(fresh_env, "rebuild")).splitlines()[-1] == "2 cases: 0 written, 2 up to date, 0 failed"

        # a stored case with wrong rows at its own version: left alone without --force, mended with it
        with sqlite3.connect(tmp_path / "rebuilt.db") as conn:
            conn.execute("UPDATE delegations SET task_name = 'tampered' WHERE case_id = ?", (open_case,))
        assert "up to date" in ok(casework(fresh_env, "rebuild", open_case))
        assert rows(tmp_path / "rebuilt.db", "SELECT task_name FROM delegations WHERE task_name = 'tampered'") != []
        assert "written" in ok(casework(fresh_env, "rebuild", "--force", open_case))
        assert rows(tmp_path / "rebuilt.db", READ_MODEL["delegations"]) == rows(live, READ_MODEL["delegations"])
        assert "a case id holds" in one_line_failure(casework(env, "rebuild", 'x" OR 1=1'))

        # histories: downloaded, they replay against this code; one changed does not
        ok(casework(env, "history", open_case, "--out", str(tmp_path / "h")))
        [history] = sorted((tmp_path / "h").glob("*.json"))
        assert f"{history}: replays" in ok(casework(env, "replay", str(history)))
        doc = json.loads(history.read_text())
        scheduled = [e for e in doc["events"] if "activityTaskScheduledEventAttributes" in e]
        assert scheduled, "the case ran activities"
        scheduled[0]["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "not_ours"
        changed = tmp_path / "h" / "changed.json"
        changed.write_text(json.dumps(doc))
        failed = casework(env, "replay", str(history), str(changed))
        assert failed.returncode == 1 and f"{changed}: does NOT replay" in failed.stdout and f"{history}: replays" in failed.stdout

        # only rebuild makes a read model; the others need one where the settings say
        missing = {**env, "CASEWORK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'nowhere.db'}"}
        assert "no read model at" in one_line_failure(casework(missing, "cases", "list"))
        assert not (tmp_path / "nowhere.db").exists()
        assert "no signing key" in one_line_failure(casework({**env, "CASEWORK_DATA_DIR": str(tmp_path / "elsewhere")}, "token", "rev1"))
        assert "not a workflow history" in one_line_failure(casework(env, "replay", str(tmp_path / "intake.yaml")))
    finally:
        stack.stop()

    # with Temporal gone and a bad setting: one line each, naming what is wrong
    gone = one_line_failure(casework({**env, "CASEWORK_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}, "rebuild"))
    assert "cannot be reached" in gone and "CASEWORK_TEMPORAL_ADDRESS" in gone
    assert one_line_failure(casework({**env, "CASEWORK_TOKEN_TTL_SECONDS": "soon"}, "cases", "list")).startswith("CASEWORK_TOKEN_TTL_SECONDS:")

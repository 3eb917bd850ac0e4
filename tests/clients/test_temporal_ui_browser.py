"""The Temporal Web UI as an operator uses it, in Chromium (driven by Playwright): the
workflow list filtered by a username finds that user's case and no other, and the case's
page shows its title and its open tasks with their holders by username. The screenshots are
kept in the test's folder (ui-list.png, ui-case.png)."""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from tests.api.conftest import user_id
from tests.clients.conftest import CHROMIUM
from tests.support.processes import free_port
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_an_operator_finds_a_users_open_task_in_the_temporal_ui_by_username(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make test` (it installs Debian's chromium) or apt-get install chromium")
    ui_port = free_port()
    stack = await Stack(tmp_path / "system", ui_port=ui_port).start()
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_list[0].url, timeout=20.0) as http:
            async def start(subject: str) -> str:
                resp = await http.post("/cases", headers=stack.auth("author"), json={"definition": "review", "inputs": {"subject": subject}})
                assert resp.status_code == 201, resp.text
                return resp.json()["caseInstanceId"]

            mine, other = await start("the quarterly report"), await start("someone else's file")
            claimed = await http.put(f"/tasks/{mine}.review/claim", headers=stack.auth("rev1"))
            assert claimed.status_code == 200, claimed.text
            claimed = await http.put(f"/tasks/{other}.review/claim", headers=stack.auth("rev2"))
            assert claimed.status_code == 200, claimed.text

        # the assignees reach Temporal's visibility with the case's next projection write
        client = await stack.dev.wait_ready(register=False)
        query = 'CaseAssignees = "rev1"'
        for _ in range(300):
            if [w.id async for w in client.list_workflows(query)] == [mine]:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"visibility never found {mine} by {query}")

        ui = f"http://127.0.0.1:{ui_port}/namespaces/default"
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = await browser.new_page(viewport={"width": 1600, "height": 1100})
                await page.goto(f"{ui}/workflows?query={urllib.parse.quote(query)}")
                await page.get_by_text(mine).first.wait_for(timeout=30_000)
                await page.screenshot(path=tmp_path / "ui-list.png", full_page=True)
                listed = await page.inner_text("main")
                assert mine in listed and other not in listed

                await page.goto(f"{ui}/workflows/{mine}")
                await page.get_by_role("tab", name="User Metadata").click()
                # the UI renders each markdown text (summary, details) in a frame of its own
                shown = ""
                for _ in range(300):
                    texts = []
                    for frame in page.frames:
                        try:
                            texts.append(await frame.inner_text("body", timeout=1000))
                        except PlaywrightError:
                            pass  # a frame still loading
                    shown = "\n".join(texts)
                    if "held by" in shown and "Review of the quarterly report" in shown:
                        break
                    await page.wait_for_timeout(100)
                await page.screenshot(path=tmp_path / "ui-case.png", full_page=True)
            finally:
                await browser.close()
        # the title, and the open task with its holder by username (never a directory id)
        assert "Review of the quarterly report" in shown
        assert "Review document: Assigned, held by rev1" in shown, shown[-1500:]
        assert user_id("rev1") not in shown
        assert (tmp_path / "ui-list.png").stat().st_size > 10_000 and (tmp_path / "ui-case.png").stat().st_size > 10_000
    finally:
        stack.stop()

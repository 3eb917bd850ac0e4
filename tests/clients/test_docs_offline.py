"""`/docs` in a real browser with no internet: the gateway serves Swagger UI's own files, and
the page renders the operations of all three faces from the gateway's OpenAPI."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.clients.conftest import System, render


def test_the_docs_page_loads_nothing_from_elsewhere(system: System) -> None:
    page = httpx.get(f"{system.gateway}/docs")
    assert page.status_code == 200
    resources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert resources and all(url.startswith(system.gateway + "/") for url in resources), resources
    for url in resources:
        assert httpx.get(url).status_code == 200, url


def test_swagger_ui_renders_every_face_in_chromium(system: System, tmp_path: Path) -> None:
    dom = render(f"{system.gateway}/docs", tmp_path / "profile")
    assert "swagger-ui" in dom
    paths = set(re.findall(r'data-path="([^"]+)"', dom))
    # the native face, ProcessMaker's and IBM's, as Swagger UI drew them from /openapi.json
    assert "/cases" in paths and "/tasks/{taskId}/claim" in paths, sorted(paths)[:20]
    assert any(p.startswith("/api/1.0/{workspace}/") for p in paths)
    assert any(p.startswith("/CaseManager/CASEREST/v1/") for p in paths)
    assert "Durable case management on Temporal" in dom

"""A real browser (Debian's Chromium, headless) runs the ProcessMaker seed's JavaScript list
example from a page on another origin than the gateway's, as a front end would: with the
origin in CASEWORK_CORS_ORIGINS the page prints the caller's to-do list; from an origin that
is not allowed the browser itself refuses the answer and the page prints nothing.

The system is tests/clients/conftest.py's. `make test` installs Chromium when it is missing
(the Makefile's `chromium` target).
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.clients.conftest import CHROMIUM, System, render
from tests.support.processes import free_port

# The seed's "Reading a list of cases with JavaScript", unchanged but for the server's URL
# (and `accessToken`, which the seed leaves to the page).
SEED_EXAMPLE = """
var req = new XMLHttpRequest();
req.open("GET", "https://example.com/api/1.0/workflow/cases", true);
req.setRequestHeader("Authorization", "Bearer " + accessToken);

req.onreadystatechange = function() {
   if (req.readyState==4 && req.status==200) {  //if a successful request
      //use JSON.parse() to decode string if browser supports it:
      var aCases = (JSON) ? JSON.parse(req.responseText) : eval(req.responseText);

      //loop through array of cases and print when each one is due in the <body>
      for (var i = 0; i < aCases.length; i++) {
         var p = document.createElement('p');
         p.innerHTML = "Case '" + aCases[i].app_title + "' in task '" + aCases[i].app_tas_title +
            "' is due " + aCases[i].del_task_due_date + ".";
         document.body.appendChild(p);
      }
   }
};
req.send(null);
"""


def _serve(folder: Path, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Site:
    allowed_port: int
    other_port: int
    title: str


@pytest.fixture(scope="module")
def site(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The page, served from the origin the gateway allows and from another one."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make test` (it installs Debian's chromium) or apt-get install chromium")
    script = SEED_EXAMPLE.replace("https://example.com", system.gateway)
    page = f"<!doctype html><html><head><title>to do</title></head><body><script>var accessToken = {system.token!r};\n{script}</script></body></html>"
    folder = tmp_path_factory.mktemp("site")
    (folder / "index.html").write_text(page)
    other = free_port()
    servers = [_serve(folder, system.page_origin_port), _serve(folder, other)]
    try:
        yield Site(system.page_origin_port, other, system.title)
    finally:
        for server in servers:
            server.shutdown()


def test_the_seeds_list_example_prints_the_to_do_list_from_another_origin(site: Site, tmp_path: Path) -> None:
    dom = render(f"http://127.0.0.1:{site.allowed_port}/index.html", tmp_path / "profile")
    printed = [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", dom)]
    assert printed, f"the page printed nothing:\n{dom[-3000:]}"
    assert any(re.fullmatch(rf"Case '{re.escape(site.title)}' in task 'Approve request' is due \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.", p) for p in printed), printed


def test_a_page_from_an_origin_not_allowed_gets_nothing(site: Site, tmp_path: Path) -> None:
    """Same page, same token, another port: the browser withholds the answer."""
    dom = render(f"http://127.0.0.1:{site.other_port}/index.html", tmp_path / "profile")
    assert "<body>" in dom or "<body" in dom
    assert re.findall(r"<p>(.*?)</p>", dom) == []

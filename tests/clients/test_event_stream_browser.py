"""A real browser (Debian's Chromium, headless) reads the event stream from a page on another
origin than the gateway's, as a front end keeping an inbox would: `fetch` with the bearer
token (the browser sends the CORS preflight), the stream's body read as it comes, the events
parsed from it. The system is tests/clients/conftest.py's: bob claimed a travel request's
approval, so his stream from the start of the feed holds that claim."""

from __future__ import annotations

import html
import re
from pathlib import Path

from tests.clients.conftest import System, render
from tests.clients.test_seed_javascript import _serve

PAGE = """<!doctype html><html><head><title>inbox</title></head><body><script>
var out = function (text) { var p = document.createElement('p'); p.textContent = text; document.body.appendChild(p); };
var stop = new AbortController();
// Chromium's virtual time (render()) does not wait for a streamed body: a plain request kept
// pending holds it, here a list told to wait for a version no case will reach (the gateway
// answers it after CASEWORK_CONSISTENCY_WAIT_SECONDS), so the stream's event has real time
fetch(GATEWAY + "/tasks/user/count", {headers: {"Authorization": "Bearer " + TOKEN,
  "Casework-Consistency": btoa("no-such-case:999999999").replace(/=+$/, "")}});
fetch(GATEWAY + "/events?after=0&types=TaskClaimed", {headers: {"Authorization": "Bearer " + TOKEN}, signal: stop.signal})
  .then(async function (resp) {
    out("status " + resp.status + " " + resp.headers.get("content-type"));
    var reader = resp.body.getReader(), decoder = new TextDecoder(), buffer = "";
    for (;;) {
      var part = await reader.read();
      if (part.done) { out("ended"); return; }
      buffer += decoder.decode(part.value, {stream: true});
      var blocks = buffer.split(/\\r?\\n\\r?\\n/);
      buffer = blocks.pop();
      for (var block of blocks) {
        var data = block.split(/\\r?\\n/).filter(function (l) { return l.startsWith("data:"); }).map(function (l) { return l.slice(5).trim(); }).join("");
        if (!data) continue;
        var e = JSON.parse(data);
        out("event " + e.kind + " | " + e.caseName + " | " + e.task.taskName + " | " + e.task.taskState);
        stop.abort();  // one is enough: the page is done, and the browser may print it
        return;
      }
    }
  })
  .catch(function (err) { if (err.name !== "AbortError") out("error " + err); });
</script></body></html>"""


def test_a_page_on_another_origin_reads_the_callers_events_as_they_stream(system: System, tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text(PAGE.replace("GATEWAY", repr(system.gateway)).replace("TOKEN", repr(system.token)))
    server = _serve(folder, system.page_origin_port)
    try:
        dom = render(f"http://127.0.0.1:{system.page_origin_port}/index.html", tmp_path / "profile")
    finally:
        server.shutdown()
        server.server_close()  # the port is the allowed origin the seed's page test serves from next
    printed = [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", dom)]
    assert printed[:1] == ["status 200 text/event-stream; charset=utf-8"], printed
    assert f"event TaskClaimed | {system.title} | Approve request | Assigned" in printed, printed

"""The ProcessMaker seed's PHP list example, run by php-cli (with its curl extension) against
the gateway, as a PHP integration would run it: unchanged but for the server's URL and
`$accessToken`, which the seed leaves to the script. `make test` installs php-cli and
php-curl when they are missing (the Makefile's `php` target)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import System

PHP = shutil.which("php") or "/usr/bin/php"

# The seed's "Reading a list of cases with PHP", as printed there.
SEED_EXAMPLE = """
$ch = curl_init("https://example.com/api/1.0/workflow/cases");
curl_setopt($ch, CURLOPT_HTTPHEADER, array("Authorization: Bearer " . $accessToken));
curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
$aCases = json_decode(curl_exec($ch));
$statusCode = curl_getinfo($ch, CURLINFO_HTTP_CODE);
curl_close($ch);

if ($statusCode == 200) { //if successful request
   //loop through array of cases and print when each one is due:
   foreach ($aCases as $oCase) {
      print "<p>Case '{$oCase->app_title}' in task '{$oCase->app_tas_title}' is due {$oCase->del_task_due_date}.</p>\\n";
   }
}
"""


def _run(script: str, folder: Path) -> str:
    if not Path(PHP).exists():
        pytest.fail("php-cli is not installed: run `make test` (it installs Debian's php-cli and php-curl)")
    path = folder / "example.php"
    path.write_text(script)
    run = subprocess.run([PHP, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "Fatal error" not in run.stdout, run.stdout + run.stderr
    return run.stdout


def test_the_seeds_php_list_example_prints_the_to_do_list(system: System, tmp_path: Path) -> None:
    script = "<?php\n$accessToken = '" + system.token + "';\n" + SEED_EXAMPLE.replace("https://example.com", system.gateway)
    printed = re.findall(r"<p>(.*?)</p>", _run(script, tmp_path))
    assert any(
        re.fullmatch(rf"Case '{re.escape(system.title)}' in task 'Approve request' is due \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.", p)
        for p in printed
    ), printed


def test_with_a_token_that_is_not_valid_it_prints_nothing(system: System, tmp_path: Path) -> None:
    script = "<?php\n$accessToken = 'not-a-token';\n" + SEED_EXAMPLE.replace("https://example.com", system.gateway)
    assert re.findall(r"<p>(.*?)</p>", _run(script, tmp_path)) == []

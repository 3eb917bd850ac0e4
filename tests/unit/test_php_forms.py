"""PHP's reading of form bodies (api/processmaker/forms.py), as `$_POST` holds them."""

from __future__ import annotations

import pytest

from api.processmaker.forms import FormBodyError, php_form


@pytest.mark.parametrize(
    "body,expected",
    [
        (b"a=1&b=two", {"a": "1", "b": "two"}),
        (b"a=&b", {"a": "", "b": ""}),
        (b"v%5B0%5D%5Bx%5D=1&v%5B0%5D%5By%5D=2&v%5B1%5D%5Bx%5D=3", {"v": [{"x": "1", "y": "2"}, {"x": "3"}]}),
        (b"c[]=a&c[]=b", {"c": ["a", "b"]}),
        (b"g[1][q]=2", {"g": {"1": {"q": "2"}}}),  # keys from 1, as a grid's rows: an object
        (b"m[b]=1&m[a]=2", {"m": {"b": "1", "a": "2"}}),
        (b"t=caf%C3%A9+%26+co", {"t": "café & co"}),
        (b"", {}),
    ],
)
def test_php_form(body: bytes, expected: dict) -> None:
    assert php_form(body) == expected


@pytest.mark.parametrize("body", [b"a=1&a[b]=2", b"a[b]=1&a=2", b"[x]=1", b"a[b=1", b"t=%FF"])
def test_forms_php_would_not_build_are_refused(body: bytes) -> None:
    with pytest.raises((FormBodyError, UnicodeDecodeError)):
        php_form(body)

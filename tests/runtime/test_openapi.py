"""The runtime's HTTP contract is a committed file (services/runtime/openapi.json): the
app still produces exactly it (test_api checks it is what the app serves at
/openapi.json). A change to the HTTP API updates the file deliberately:
`python -m anima_dev.openapi`."""

from __future__ import annotations

import json

from anima_dev.openapi import OPENAPI_FILE, render, runtime_openapi

UPDATE = "the HTTP API changed: run `python -m anima_dev.openapi` and commit the file"


def test_the_app_produces_the_committed_openapi_document() -> None:
    committed = OPENAPI_FILE.read_text(encoding="utf-8")
    produced = runtime_openapi()
    assert json.loads(committed) == produced, UPDATE
    assert committed == render(produced), "openapi.json is not in its canonical form: " + UPDATE

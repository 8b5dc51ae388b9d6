"""What the end-to-end modules share: gunicorn serving the module's own store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.e2e import Server, Store, create_key, start, stop


@pytest.fixture(scope="module")
def server(store: Store) -> Iterator[Server]:
    procurement = create_key(store, "procurement")
    auditor = create_key(store, "auditor")
    log = store.cwd / "gunicorn.log"
    process, base = start(store, log)
    try:
        yield Server(base, procurement, auditor, log)
    finally:
        stop(process)

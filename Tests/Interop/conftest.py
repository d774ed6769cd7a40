"""pytest wiring for the interop suite. See helpers.py for the machinery."""

from __future__ import annotations

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import helpers  # noqa: E402  (compiles the protos into a temp dir on import)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def server_bin():
    try:
        return helpers.server_binary()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def workspace(server_bin):
    ws = helpers.Workspace()
    yield ws
    ws.cleanup()


@pytest.fixture(scope="module")
def server(workspace):
    """A fresh server per test module, with the fixture imported."""
    try:
        s = helpers.start_server(workspace)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield s
    s.stop()


@pytest.fixture
def launcher(workspace):
    """Starts extra servers (`launch(data_dir=..., extra=[...], ready=True)`); stops them all."""
    started = []

    def launch(data_dir=None, ready=True, **kw):
        s = helpers.Server(workspace, data_dir or workspace.data_dir(f"launch-{uuid.uuid4().hex[:8]}"),
                           **kw)
        started.append(s)
        if ready:
            try:
                s.wait_ready()
            except RuntimeError as e:
                pytest.fail(str(e), pytrace=False)
        return s

    yield launch
    for s in started:
        if s.alive():
            s.kill()
        else:
            s.stop()


@pytest.fixture(scope="session")
def admin():
    return helpers.admin_md()

"""h2load (nghttp2's load generator) drives the server with gRPC headers and a prepared body."""

import re
import shutil
import subprocess

import pytest

from helpers import HEALTH_PATH, LIST_PATH, admin_md, health_body, list_body


def run_h2load(server, tmp_path, path, body, headers=(), requests=2000):
    h2load = shutil.which("h2load")
    if h2load is None:
        pytest.fail("h2load is not installed (apt-get install nghttp2-client)", pytrace=False)
    data = tmp_path / "body.bin"
    data.write_bytes(body)
    args = [h2load, "-n", str(requests), "-c", "4", "-m", "16", "-t", "1",
            "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(data)]
    for name, value in headers:
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [f"http://127.0.0.1:{server.port}{path}"], capture_output=True, text=True,
                         timeout=60).stdout
    counts = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                       r"(\d+) errored", out)
    assert counts, out
    total, done, succeeded, failed, errored = map(int, counts.groups())
    assert (total, done, succeeded, failed, errored) == (requests, requests, requests, 0, 0), out
    assert re.search(rf"status codes: {requests} 2xx", out), out
    return out


def test_h2load_health(server, tmp_path):
    run_h2load(server, tmp_path, HEALTH_PATH, health_body())


def test_h2load_list_requests_with_a_token(server, tmp_path):
    out = run_h2load(server, tmp_path, LIST_PATH, list_body(page_size=20), headers=admin_md())
    # Every response carried a message (a gRPC error would be headers only).
    traffic = re.search(r"\((\d+)\) data", out)
    assert traffic and int(traffic.group(1)) > 2000 * 100, out

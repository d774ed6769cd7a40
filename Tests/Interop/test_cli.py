"""The `entitlement` CLI and load tester (Step 9) against real servers: table and JSON output,
--all, ids piped into reprocess, exit codes, the load tester's counts against the server's own
/metrics, open versus closed loop against a server that stalls, and the HTML report in Chromium."""

import json
import os
import stat
import shutil
import signal
import subprocess
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from helpers import (FIXTURE, GLOBAL_ADMIN, REPO, Server, free_port, health_grpc, health_pb, mint)
from test_operations import handled, scrape

CLI = REPO / ".build/debug/entitlement"


def cli(*args, token=True, stdin=None, timeout=60):
    if not CLI.exists():
        pytest.fail(f"{CLI} is not built (swift build --product entitlement)")
    env = dict(os.environ)
    env.pop("ENTITLEMENT_TOKEN", None)
    if token:
        env["ENTITLEMENT_TOKEN"] = mint("oid-cli", [GLOBAL_ADMIN])
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout, env=env, input=stdin)


@pytest.fixture(scope="module")
def observed(workspace):
    metrics_port = free_port()
    s = Server(workspace, workspace.data_dir("cli"), extra=["--metrics-port", str(metrics_port)]).wait_ready()
    yield s, metrics_port
    s.stop()


def ids_of(ap, state=None):
    return [r["id"] for r in FIXTURE["requests"] if r["accessPackageId"] == ap and (state is None or r["state"] == state)]


def test_list_table_and_json_one_line_per_page(observed):
    s, _ = observed
    table = cli("list", "--target", s.addr, "--package", "ap-1", "--page-size", "5")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[0] in ids_of("ap-1")
    assert "next page token:" in table.stdout
    pages = cli("list", "--target", s.addr, "--package", "ap-1", "--page-size", "7", "--all", "--output", "json")
    assert pages.returncode == 0, pages.stderr
    lines = pages.stdout.splitlines()
    objects = [json.loads(line) for line in lines]
    total = len(ids_of("ap-1"))
    assert len(lines) == -(-total // 7), "one JSON object per page"
    assert [r["id"] for o in objects for r in o.get("requests", [])].__len__() == total
    assert all("nextPageToken" in o for o in objects[:-1]) and "nextPageToken" not in objects[-1]
    # proto3 JSON mapping: lowerCamelCase names, enum names, RFC 3339 times.
    first = objects[0]["requests"][0]
    assert first["state"].startswith("REQUEST_STATE_") and first["createdAt"].endswith("Z")
    # --json stays an alias.
    alias = cli("list", "--target", s.addr, "--package", "ap-1", "--page-size", "7", "--all", "--json")
    assert alias.stdout == pages.stdout


def test_listed_ids_pipe_into_reprocess(observed):
    s, _ = observed
    listed = cli("list", "--target", s.addr, "--package", "ap-2", "--state", "delivery_failed", "--all", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    expected = [r["id"] for line in listed.stdout.splitlines() for r in json.loads(line).get("requests", [])]
    assert expected, "the fixture has failed requests in ap-2"
    out = cli("reprocess", "--target", s.addr, "--package", "ap-2", "--output", "json", "-", stdin=listed.stdout)
    assert out.returncode == 0, out.stderr
    results = [r for line in out.stdout.splitlines() for r in json.loads(line)["results"]]
    assert [r["requestId"] for r in results] == expected


def test_reprocess_reads_ids_from_a_file_in_batches_of_100(observed, tmp_path):
    s, _ = observed
    ids = [f"nope-{i}" for i in range(250)]
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(ids) + "\n")
    out = cli("reprocess", "--target", s.addr, "--package", "ap-1", "--file", str(path), "--output", "json")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [len(json.loads(line)["results"]) for line in lines] == [100, 100, 50]
    assert all(r["outcome"] == "REPROCESS_OUTCOME_NOT_FOUND" for line in lines for r in json.loads(line)["results"])


def test_exit_codes_bad_token_is_1_with_the_status_usage_is_2(observed):
    s, _ = observed
    bad = subprocess.run([str(CLI), "list", "--target", s.addr, "--package", "ap-1", "--token", "not.a.jwt"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: UNAUTHENTICATED:"), bad.stderr
    missing = cli("list", "--target", s.addr, "--package", "ap-1", token=False)
    assert missing.returncode == 1 and "UNAUTHENTICATED" in missing.stderr and "ENTITLEMENT_TOKEN" in missing.stderr
    unknown = cli("list", "--target", s.addr, "--package", "ap-none")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: NOT_FOUND:")
    for usage in (["list", "--target", s.addr], ["list", "--target", "nohost", "--package", "ap-1"],
                  ["reprocess", "--target", s.addr, "--package", "ap-1"], ["load", "--duration", "soon"]):
        out = cli(*usage)
        assert out.returncode == 2, (usage, out.returncode, out.stderr)
        assert "Error:" in out.stderr or "error:" in out.stderr.lower()


def test_health_and_watch_in_json(observed):
    s, _ = observed
    health = cli("health", "--target", s.addr, "--output", "json", token=False)
    assert health.returncode == 0 and json.loads(health.stdout) == {"status": "SERVING"}
    rid = ids_of("ap-1", "REQUEST_STATE_DELIVERED")[0]
    watch = cli("watch", "--target", s.addr, "--package", "ap-1", "--for", "1", "--output", "json", rid)
    assert watch.returncode == 0, watch.stderr
    assert json.loads(watch.stdout.splitlines()[0])["id"] == rid


def test_watch_for_fails_when_the_target_never_speaks_http2(observed):
    """--for ends a watch the server took with 0; a port that accepts and says nothing is no
    watch at all."""
    import socket
    s, _ = observed
    quiet = socket.socket()
    quiet.bind(("127.0.0.1", 0))
    quiet.listen(4)
    try:
        out = cli("watch", "--target", f"127.0.0.1:{quiet.getsockname()[1]}", "--package", "ap-1", "--for", "1")
        assert out.returncode == 1 and "spoke no HTTP/2" in out.stderr, (out.returncode, out.stderr)
    finally:
        quiet.close()
    out = cli("watch", "--target", s.addr, "--package", "ap-1", "--for", "1")
    assert out.returncode == 0, out.stderr


def test_watch_writes_each_change_into_a_pipe_as_it_happens(observed):
    # stdout into a pipe is block-buffered: without a flush per change nothing would arrive
    # until the watch ended (and Ctrl-C would lose it).
    s, _ = observed
    rid = ids_of("ap-1", "REQUEST_STATE_DELIVERED")[1]
    env = {k: v for k, v in os.environ.items() if k != "ENTITLEMENT_TOKEN"}
    env["ENTITLEMENT_TOKEN"] = mint("oid-cli", [GLOBAL_ADMIN])
    watch = subprocess.Popen([str(CLI), "watch", "--target", s.addr, "--package", "ap-1", "--for", "30",
                              "--output", "json", rid], stdout=subprocess.PIPE, env=env)
    try:
        first = {}
        reader = threading.Thread(target=lambda: first.update(json.loads(watch.stdout.readline())))
        reader.start()
        reader.join(10)
        assert first.get("id") == rid, "the first change did not reach the pipe while the watch ran"
        assert watch.poll() is None
    finally:
        watch.kill()
        watch.wait(10)


def test_load_counts_agree_exactly_with_the_servers_metrics(observed, tmp_path):
    s, metrics_port = observed
    before = scrape(metrics_port)
    report = tmp_path / "r.json"
    out = cli("load", "--target", s.addr, "--rpc", "list", "--package", "ap-1", "--requests", "777",
              "--concurrency", "9", "--connections", "3", "--report", str(report))
    assert out.returncode == 0, out.stderr
    after = scrape(metrics_port)
    r = json.loads(report.read_text())
    assert r["total"] == 777 and r["ok"] == 777 and r["errors"] == {}
    served = handled(after, "ListRequests", "OK") - handled(before, "ListRequests", "OK")
    assert served == r["total"] + r["setup_calls"], (served, r["total"], r["setup_calls"])
    for key in ("p50", "p90", "p99", "p999", "max"):
        assert r["latency_ms"][key] > 0
    assert r["settings"]["connections"] == 3 and r["settings"]["concurrency"] == 9
    assert r["rps"] > 0 and r["duration_s"] > 0


def test_a_mix_keeps_its_proportions_exactly_whatever_the_concurrency(observed, tmp_path):
    # Reprocess is several times slower than health: slots taken per worker gave fewer calls to
    # the workers stuck on it (750/172/78 for 8:1:1).
    s, _ = observed
    report = tmp_path / "r.json"
    out = cli("load", "--target", s.addr, "--mix", "list=8,reprocess=1,health=1", "--package", "ap-1",
              "--requests", "1000", "--concurrency", "10", "--report", str(report))
    assert out.returncode == 0, out.stderr
    assert json.loads(report.read_text())["by_rpc"] == {"list": 800, "reprocess": 100, "health": 100}


def test_load_refuses_conflicting_or_unwritable_options_before_it_runs(observed, tmp_path):
    s, _ = observed
    both = cli("load", "--target", s.addr, "--mix", "list=1", "--rpc", "health", "--package", "ap-1", "--requests", "1")
    assert both.returncode == 2 and "not both" in both.stderr, both.stderr
    for flag in ("--report", "--html"):
        out = cli("load", "--target", s.addr, "--rpc", "health", "--requests", "1", flag, str(tmp_path / "no" / "r"),
                  token=False)
        assert out.returncode == 2 and "there is no directory" in out.stderr, out.stderr
    out = cli("load", "--target", s.addr, "--rpc", "health", "--requests", "1", "--report", str(tmp_path), token=False)
    assert out.returncode == 2 and "is a directory" in out.stderr, out.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_load_reports_and_writes_what_it_measured(observed, tmp_path, sig):
    s, _ = observed
    report, page = tmp_path / "r.json", tmp_path / "r.html"
    env = dict(os.environ, ENTITLEMENT_TOKEN=mint("oid-cli", [GLOBAL_ADMIN]))
    run = subprocess.Popen([str(CLI), "load", "--target", s.addr, "--rpc", "list", "--package", "ap-1",
                            "--duration", "60s", "--report", str(report), "--html", str(page)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(2)
    run.send_signal(sig)
    out, err = run.communicate(timeout=20)
    assert run.returncode == 128 + sig, (run.returncode, err)  # 130 for SIGINT, 143 for SIGTERM
    assert "interrupted" in out and "calls:" in out, out
    r = json.loads(report.read_text())
    assert r["interrupted"] is True and r["interrupted_by"] == sig.name and r["ok"] > 0 and r["duration_s"] < 30, r
    assert page.read_text().startswith("<!") and "(interrupted)" in page.read_text()
    # A comparison names it as interrupted too: it measured less than its settings say.
    whole = tmp_path / "whole.json"
    assert cli("load", "--target", s.addr, "--rpc", "health", "--requests", "20", "--report", str(whole),
               token=False).returncode == 0
    out = cli("load-compare", str(report), str(whole), token=False)
    assert out.returncode == 0 and out.stdout.count("(interrupted)") == 1, out.stdout


def test_a_paced_load_interrupted_during_its_wait_sends_no_further_call(observed, tmp_path):
    """One call every 100 s: Ctrl-C while the worker waits for its next slot ends the run then,
    and sends nothing more."""
    s, _ = observed
    report = tmp_path / "r.json"
    run = subprocess.Popen([str(CLI), "load", "--target", s.addr, "--rpc", "health", "--rate", "0.01",
                            "--concurrency", "1", "--duration", "300s", "--report", str(report)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)  # the first call went at 0 s; the next is due at 100 s
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=20)  # not held up until the next slot
    assert run.returncode == 130, (run.returncode, err)
    r = json.loads(report.read_text())
    assert r["total"] == 1, r


def test_reprocess_refuses_a_cut_off_json_line_instead_of_sending_it_as_an_id(observed, tmp_path):
    s, _ = observed
    out = cli("reprocess", "--target", s.addr, "--package", "ap-1", "-", stdin='{"requests":[{"id":"r-1"}\n')
    assert out.returncode == 2 and "line 1 of standard input" in out.stderr, (out.returncode, out.stderr)
    assert "Usage: entitlement reprocess" in out.stderr, out.stderr  # this command's usage, not the top level's
    # Blank lines count: the number is the line's in the file, which is named.
    out = cli("reprocess", "--target", s.addr, "--package", "ap-1", "-", stdin='r-1\n\n{"requests":\n')
    assert out.returncode == 2 and "line 3 of standard input" in out.stderr, out.stderr
    ids = tmp_path / "ids.txt"
    ids.write_text('\n{"id": "r-1"}\n\n\n{"id":\n')
    out = cli("reprocess", "--target", s.addr, "--package", "ap-1", "--file", str(ids))
    assert out.returncode == 2 and f"line 5 of {ids} starts with" in out.stderr, out.stderr
    out = cli("reprocess", "--target", s.addr, "--package", "ap-1", "--file", str(tmp_path / "missing.txt"))
    assert out.returncode == 2 and "cannot read request ids from" in out.stderr, out.stderr
    assert "Usage: entitlement reprocess" in out.stderr, out.stderr
    # An empty page, as `list --all --output json` ends with, is no ids, not an error.
    out = cli("reprocess", "--target", s.addr, "--package", "ap-1", "-", stdin='{}\n{"nextPageToken":"x"}\n')
    assert out.returncode == 0 and "no request ids to reprocess" in out.stderr, (out.returncode, out.stderr)


@pytest.mark.parametrize("flag,value", [("--duration", "-1s"), ("--warmup", "-1s"), ("--rate", "-5")])
def test_a_negative_load_flag_is_refused_as_its_value_not_as_a_missing_one(flag, value):
    out = cli("load", "--target", "127.0.0.1:1", "--rpc", "health", flag, value, token=False)
    assert out.returncode == 2 and f"'{value}' is invalid for '{flag}" in out.stderr, out.stderr


def test_load_compare_says_where_a_report_file_is_wrong(tmp_path):
    (tmp_path / "partial.json").write_text('{"label": "x", "started_at": "y", "settings": {}}')
    (tmp_path / "text.json").write_text("not json")
    out = cli("load-compare", str(tmp_path / "partial.json"), str(tmp_path / "text.json"), token=False)
    assert out.returncode == 1 and "partial.json is not an `entitlement load --report` file: settings.target is missing" in out.stderr, out.stderr
    assert "DecodingError" not in out.stderr
    out = cli("load-compare", str(tmp_path / "text.json"), str(tmp_path / "partial.json"), token=False)
    assert "text.json is not an `entitlement load --report` file: not valid JSON" in out.stderr, out.stderr


def test_a_target_with_a_scheme_is_a_usage_error_and_ipv6_hosts_keep_their_brackets():
    out = cli("health", "--target", "http://127.0.0.1:50051", token=False)
    assert out.returncode == 2 and 'without a scheme (h2c is implied): "127.0.0.1:50051"' in out.stderr, out.stderr
    # A pasted URL's path is dropped from the suggestion; a missing port is asked for.
    for url, suggestion in [("http://localhost:50051/", "localhost:50051"), ("https://[::1]:8443/v1?x", "[::1]:8443"),
                            ("http://example.com/", "example.com:<port>")]:
        out = cli("health", "--target", url, token=False)
        assert out.returncode == 2 and f'(h2c is implied): "{suggestion}", not' in out.stderr, out.stderr
    out = cli("health", "--target", f"[::1]:{free_port()}", "--timeout", "2", token=False)
    assert out.returncode == 1 and "cannot connect to [::1]:" in out.stderr, out.stderr


def test_the_progress_line_counts_every_call_so_far(observed):
    # 4 workers at 100 calls/s in all: each makes ~125 calls in 5 s, fewer than a worker's
    # batch, and the line must still count them (it once showed 0 until a batch filled).
    s, _ = observed
    out = cli("load", "--target", s.addr, "--rpc", "health", "--rate", "100", "--concurrency", "4",
              "--duration", "6s")
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stderr.splitlines() if l.startswith("["))  # at 5 s, off a tty
    calls = int(line.split()[1])
    assert 400 <= calls <= 600, line


def test_a_closed_loop_pauses_while_the_server_is_down_and_resumes_after_its_restart(workspace, tmp_path):
    data_dir = workspace.data_dir("cli-restart")
    s = Server(workspace, data_dir).wait_ready()
    report = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if k != "ENTITLEMENT_TOKEN"}
    load = subprocess.Popen([str(CLI), "load", "--target", s.addr, "--rpc", "health", "--concurrency", "16",
                             "--duration", "12s", "--report", str(report)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    restarted = None
    try:
        time.sleep(2)
        s.kill()
        time.sleep(1.5)
        restarted = Server(workspace, data_dir, port=s.port, import_fixture=False).wait_ready()
        _, err = load.communicate(timeout=60)
        assert load.returncode == 1, err  # some calls failed
        r = json.loads(report.read_text())
        # Down ~1.5 s: each of 16 workers pauses 10 ms, 20 ms, ... 0.5 s between failures, so a
        # few hundred failures at most (spinning made tens of thousands).
        assert set(r["errors"]) == {"UNAVAILABLE"} and 0 < r["errors"]["UNAVAILABLE"] < 500, r["errors"]
        # Calls succeed again after the restart (ready by ~6 s even on a busy machine): the last
        # seconds of the timeline have OK calls.
        assert sum(second["ok"] for second in r["timeline"][-2:]) > 0, r["timeline"]
    finally:
        if load.poll() is None:
            load.kill()
        if restarted:
            restarted.stop()


def test_calls_raced_by_a_graceful_goaway_are_sent_again_not_failed(workspace, tmp_path):
    # The server ends each connection after 1 s (as nginx does after 1,000 requests): calls the
    # client starts as the GOAWAY arrives are refused unseen and must go out again on a new
    # connection, as grpcio does; they failed UNAVAILABLE before.
    s = Server(workspace, workspace.data_dir("cli-goaway"),
               extra=["--max-connection-age-seconds", "1", "--max-connection-age-grace-seconds", "1"]).wait_ready()
    try:
        report = tmp_path / "r.json"
        out = cli("load", "--target", s.addr, "--rpc", "list", "--package", "ap-1", "--concurrency", "8",
                  "--duration", "5s", "--report", str(report))
        r = json.loads(report.read_text())
        assert out.returncode == 0 and not r["errors"], (r["errors"], out.stderr[-2000:])
        assert r["total"] > 100
    finally:
        s.stop()


@pytest.mark.skipif(not (os.path.exists("/dev/full") and stat.S_ISCHR(os.stat("/dev/full").st_mode)),
                    reason="no /dev/full device here")
def test_output_that_cannot_be_written_is_a_failure(observed, tmp_path):
    s, _ = observed
    with open("/dev/full", "w") as full:
        out = subprocess.run([str(CLI), "list", "--target", s.addr, "--package", "ap-1", "--all", "--output", "json"],
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
                             env={**os.environ, "ENTITLEMENT_TOKEN": mint("oid-cli", [GLOBAL_ADMIN])})
    assert out.returncode == 1 and "cannot write to standard output" in out.stderr, out.stderr
    out = cli("load", "--target", s.addr, "--rpc", "health", "--duration", "1s", "--report", "/dev/full")
    assert out.returncode != 0 and "cannot write /dev/full" in out.stderr, out.stderr


def test_a_token_with_a_trailing_newline_still_works(observed):
    # Tokens read from files or Kubernetes secrets end in a newline, which no header may carry.
    s, _ = observed
    out = cli("list", "--target", s.addr, "--package", "ap-1", "--token",
              " " + mint("oid-cli", [GLOBAL_ADMIN]) + "\n", token=False)
    assert out.returncode == 0, out.stderr


def test_load_watch_ends_each_watch_after_its_snapshot(observed, tmp_path):
    # Each watch is cancelled once its snapshot is in; they stayed open until their deadline,
    # so a 3 s run took the whole --timeout and left hundreds of streams on the server.
    s, _ = observed
    report = tmp_path / "r.json"
    started = time.monotonic()
    out = cli("load", "--target", s.addr, "--rpc", "watch", "--package", "ap-1", "--concurrency", "1",
              "--duration", "3s", "--timeout", "30", "--report", str(report))
    took = time.monotonic() - started
    r = json.loads(report.read_text())
    # Past 200 cancels a second nghttp2's reset-flood guard sends GOAWAY; the few calls it
    # refused unseen count as UNAVAILABLE.
    assert r["ok"] > 10 and set(r["errors"]) <= {"UNAVAILABLE"} and sum(r["errors"].values()) < r["ok"] / 100, r
    assert took < 15, f"the run took {took:.1f} s: watches waited for their deadline"


def test_checked_and_decoded_pages_count_the_same_requests(observed, tmp_path):
    s, _ = observed
    counts = {}
    for mode in ("check", "full"):
        report = tmp_path / f"{mode}.json"
        out = cli("load", "--target", s.addr, "--rpc", "list", "--package", "ap-1", "--page-size", "3",
                  "--requests", "60", "--decode", mode, "--report", str(report))
        assert out.returncode == 0, out.stderr
        r = json.loads(report.read_text())
        assert r["ok"] == 60 and r["settings"]["decode"] == mode
        counts[mode] = r["items_per_call"]
    assert counts["check"] == counts["full"] == 3.0, counts


class StallingHealth(health_grpc.HealthServicer):
    """Answers at once, except that every call arriving in the first 200 ms of each second
    waits until that window has passed: a server that stalls for 200 ms once a second."""

    def __init__(self):
        self.origin = time.monotonic()

    def Check(self, request, context):
        phase = (time.monotonic() - self.origin) % 1.0
        if phase < 0.2:
            time.sleep(0.2 - phase)
        return health_pb.HealthCheckResponse(status=health_pb.HealthCheckResponse.SERVING)


@pytest.fixture
def stalling_server():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=128))
    health_grpc.add_HealthServicer_to_server(StallingHealth(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def test_open_loop_sees_a_stall_that_a_closed_loop_at_the_same_rate_hides(stalling_server, tmp_path):
    common = ["load", "--target", stalling_server, "--rpc", "health", "--rate", "200/s", "--duration", "5s"]
    open_loop = cli(*common, "--concurrency", "64", "--report", str(tmp_path / "open.json"), token=False)
    assert open_loop.returncode == 0, open_loop.stderr
    closed = cli(*common, "--loop", "closed", "--concurrency", "1", "--report", str(tmp_path / "closed.json"),
                 token=False)
    assert closed.returncode == 0, closed.stderr
    o = json.loads((tmp_path / "open.json").read_text())
    c = json.loads((tmp_path / "closed.json").read_text())
    print(f"\nopen p99 {o['latency_ms']['p99']} ms, closed p99 {c['latency_ms']['p99']} ms")
    # About a fifth of the calls are due inside a stall: the open loop's p99 is near 200 ms.
    assert 150 <= o["latency_ms"]["p99"] <= 400, o["latency_ms"]
    assert o["rate"]["kept"], o["rate"]
    # The closed loop waits out each stall with one call and then catches up: its p99 misses it.
    assert c["latency_ms"]["p99"] < 50, c["latency_ms"]
    assert c["settings"]["loop"] == "closed-throttled" and o["settings"]["loop"] == "open"
    # ENTITLEMENT_STALL_CHART=path.png draws the two runs on one chart (docs/load-open-vs-closed.png).
    if os.environ.get("ENTITLEMENT_STALL_CHART"):
        page = tmp_path / "stall.html"
        cli("load-compare", str(tmp_path / "open.json"), str(tmp_path / "closed.json"), "--html", str(page),
            "--title", "200 ms stall once a second: open loop vs closed loop at 200 calls/s", token=False)
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={os.environ['ENTITLEMENT_STALL_CHART']}",
                        "--window-size=1100,1000", page.as_uri()], capture_output=True, timeout=120)


def test_a_rate_the_tester_cannot_keep_is_reported(stalling_server, tmp_path):
    out = cli("load", "--target", stalling_server, "--rpc", "health", "--rate", "2000/s", "--duration", "2s",
              "--concurrency", "2", "--report", str(tmp_path / "r.json"), token=False)
    assert out.returncode == 0, out.stderr
    assert "could not keep --rate" in out.stderr
    assert json.loads((tmp_path / "r.json").read_text())["rate"]["kept"] is False


def test_an_open_loop_that_falls_behind_stops_at_its_duration(observed, tmp_path):
    # 100,000 calls/s with one in flight: far more are scheduled in the second than can be made.
    # Those not started by its end are not sent after it (the run went on for the whole backlog,
    # 14 s here), and the rate report shows what was sent.
    s, _ = observed
    out = cli("load", "--target", s.addr, "--rpc", "health", "--rate", "100000/s", "--concurrency", "1",
              "--duration", "1s", "--report", str(tmp_path / "r.json"), token=False)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["rate"]["kept"] is False and report["total"] < 100_000, report["total"]
    assert report["duration_s"] < 3, report["duration_s"]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed (apt-get install chromium)")


def test_html_report_draws_its_charts_in_headless_chromium(observed, tmp_path):
    s, _ = observed
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path, rate in ((a, "300/s"), (b, "600/s")):
        out = cli("load", "--target", s.addr, "--rpc", "list", "--package", "ap-1", "--duration", "2s",
                  "--rate", rate, "--concurrency", "16", "--report", str(path), "--html", str(path.with_suffix(".html")))
        assert out.returncode == 0, out.stderr
    page = tmp_path / "compare.html"
    out = cli("load-compare", str(a), str(b), "--html", str(page))
    assert out.returncode == 0, out.stderr
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html, \
        "the page must load nothing from the network"
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(browser + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Each chart drew one line per run (the script ran and found data).
    for chart in ("percentiles", "timeline"):
        svg = dom.stdout.split(f'id="{chart}"', 1)[1].split("</svg>", 1)[0]
        assert svg.count('<path d="M') == 2, chart
    shot = tmp_path / "report.png"
    subprocess.run(browser + [f"--screenshot={shot}", "--window-size=960,1000", page.as_uri()],
                   capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    if os.environ.get("ENTITLEMENT_SCREENSHOT_TO"):
        shutil.copy(shot, os.environ["ENTITLEMENT_SCREENSHOT_TO"])


@pytest.mark.parametrize("command", [[], ["load"]])
def test_help_text_has_no_stray_line_continuations(command):
    out = cli(*command, "--help", token=False)
    assert out.returncode == 0 and not [l for l in out.stdout.splitlines() if l.rstrip().endswith("\\")], out.stdout


def test_a_low_rate_is_reported_over_the_whole_window(observed, tmp_path):
    # 3 calls at 1/s in a 3 s run is 1 call/s, not 1.5 (the span to the last call is 2 s).
    s, _ = observed
    report = tmp_path / "r.json"
    out = cli("load", "--target", s.addr, "--rpc", "health", "--rate", "1", "--duration", "3s",
              "--report", str(report))
    assert out.returncode == 0, out.stderr
    r = json.loads(report.read_text())
    assert r["total"] == 3 and r["duration_s"] >= 3.0 and 0.9 <= r["rps"] <= 1.05, r

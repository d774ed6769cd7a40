"""Step 7: Prometheus /metrics (CONTRACT §4 --metrics-port) whose counters equal the calls made,
and one JSON access line per call with the caller's trace id and never a token."""

import json
import time
import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import admin_md, bearer, free_port, health_pb, mint, pb, GLOBAL_ADMIN

C = grpc.StatusCode
SERVICE = "entitlement.v1.AccessPackageRequests"


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.status == 200
        assert r.headers["content-type"].startswith("text/plain")
        return r.read().decode()


def samples(text, name):
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def handled(text, method, code, service=SERVICE):
    key = tuple(sorted({"grpc_type": "unary", "grpc_service": service, "grpc_method": method,
                        "grpc_code": code}.items()))
    return samples(text, "grpc_server_handled_total").get(key, 0)


@pytest.fixture(scope="module")
def observed(workspace):
    from helpers import Server
    metrics_port = free_port()
    s = Server(workspace, workspace.data_dir("ops"), extra=["--metrics-port", str(metrics_port),
                                                            "--log-format", "json"]).wait_ready()
    yield s, metrics_port
    s.stop()


def test_a_log_reader_that_stops_costs_log_lines_not_calls(workspace):
    """stderr is a pipe nobody reads (a stuck log shipper): the server keeps answering and holds
    the lines (up to 4 MiB, then drops and counts them). Before, an event loop flushed the log
    itself past 256 KiB and waited there on the flusher blocked in write(2): calls stalled."""
    import threading
    from helpers import Server
    s = Server(workspace, workspace.data_dir("unread-log"), unread_output=True).wait_ready()
    read = bytearray()

    def drain():
        for chunk in iter(lambda: s.proc.stdout.read1(65536), b""):
            read.extend(chunk)
    reader = threading.Thread(target=drain, daemon=True)
    try:
        stub = s.stub()
        token = mint("oid-unread-log", [GLOBAL_ADMIN])
        # ~300 bytes of access log a call: ~1.2 MB against a 64 KiB pipe.
        for _ in range(4_000):
            stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                              metadata=bearer(token), timeout=5)
        # Now read it all: the held-back lines come out (under the 4 MiB bound none is dropped).
        reader.start()
        marker = b"grpc.method=/entitlement.v1.AccessPackageRequests/ListRequests"
        deadline = time.monotonic() + 10
        while read.count(marker) < 4_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read.count(marker) == 4_000
    finally:
        if reader.ident is None:
            reader.start()  # a failed call left the pipe full: shutdown writes its last lines there
        s.stop()


def test_a_log_reader_that_stops_does_not_hold_up_shutdown(workspace):
    """stderr is a full pipe nobody reads when SIGTERM comes: the server still exits, having
    given its last lines 2 s. Before, the exit flush blocked in write(2) until SIGKILL."""
    import signal
    import subprocess
    from helpers import Server
    s = Server(workspace, workspace.data_dir("unread-log-exit"), unread_output=True).wait_ready()
    try:
        stub = s.stub()
        token = mint("oid-unread-exit", [GLOBAL_ADMIN])
        for _ in range(4_000):  # ~1.2 MB of access lines against a 64 KiB pipe
            stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                              metadata=bearer(token), timeout=5)
        s.close_channel()
        s.proc.send_signal(signal.SIGTERM)
        try:
            code = s.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, "the server did not exit on SIGTERM while its stderr was full"
    finally:
        s.kill()
        s.proc.stdout.close()


def test_metrics_count_every_call_by_method_and_code(observed):
    s, port = observed
    before = scrape(port)
    stub = s.stub()
    token = mint("oid-metrics", [GLOBAL_ADMIN])
    for _ in range(7):
        stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=2), metadata=bearer(token), timeout=5)
    for _ in range(3):
        with pytest.raises(grpc.RpcError):
            stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-1"), timeout=5)
    for _ in range(2):
        with pytest.raises(grpc.RpcError):
            stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1"), metadata=bearer(token), timeout=5)
    after = scrape(port)
    assert handled(after, "ListRequests", "OK") - handled(before, "ListRequests", "OK") == 7
    assert handled(after, "ListRequests", "Unauthenticated") - handled(before, "ListRequests", "Unauthenticated") == 3
    assert handled(after, "Reprocess", "InvalidArgument") - handled(before, "Reprocess", "InvalidArgument") == 2
    started = samples(after, "grpc_server_started_total")
    key = tuple(sorted({"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "ListRequests"}.items()))
    assert started[key] - samples(before, "grpc_server_started_total").get(key, 0) == 10
    # The duration histogram has the ecosystem's buckets and counts every call.
    counts = samples(after, "grpc_server_handling_seconds_count")
    assert counts[key] >= 10
    buckets = {dict(k).get("le") for k in samples(after, "grpc_server_handling_seconds_bucket")}
    assert {"0.005", "0.1", "10.0", "+Inf"} <= buckets
    # Messages, and the server's own series.
    assert samples(after, "grpc_server_msg_received_total")[key] >= 7
    for name in ["entitlement_bytes_received_total", "entitlement_bytes_sent_total", "entitlement_open_connections",
                 "entitlement_calls_in_flight", "entitlement_delivery_backlog", "entitlement_watch_streams",
                 "entitlement_store_commit_seconds_count", "entitlement_token_cache_lookups_total",
                 "entitlement_store_committing"]:
        assert samples(after, name), f"{name} missing"


def test_reprocess_outcomes_and_streams_are_counted(observed):
    s, port = observed
    stub = s.stub()
    before = scrape(port)
    r = stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=["ap1-elig-30", "nope"]),
                       metadata=admin_md(), timeout=5)
    after = scrape(port)
    outcomes = samples(after, "entitlement_reprocess_outcomes_total")
    was = samples(before, "entitlement_reprocess_outcomes_total")
    for result in r.results:
        name = pb.ReprocessOutcome.Name(result.outcome)
        k = (("outcome", name),)
        assert outcomes[k] - was.get(k, 0) >= 1
    call = s.health().Watch(health_pb.HealthCheckRequest(), timeout=0.5)
    with pytest.raises(grpc.RpcError):
        list(call)
    # Whether the server's deadline or the client's reset ends the call first, it is counted as
    # DeadlineExceeded; the reset may be read just after the client has seen its error.
    assert _handled_eventually(port, "Watch", "DeadlineExceeded")


def _handled_eventually(port, method, code, service="grpc.health.v1.Health", seconds=3.0):
    import time
    key = tuple(sorted({"grpc_type": "server_stream", "grpc_service": service,
                        "grpc_method": method, "grpc_code": code}.items()))
    end = time.monotonic() + seconds
    while True:
        if samples(scrape(port), "grpc_server_handled_total").get(key, 0) >= 1:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def test_a_call_the_client_cancels_is_counted_and_logged(observed):
    import time
    from helpers import FIXTURE
    s, port = observed
    some = next(r["id"] for r in FIXTURE["requests"] if r["accessPackageId"] == "ap-1")
    call = s.stub().WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1", request_ids=[some]),
                                  metadata=admin_md(), timeout=30)
    next(call)  # the snapshot: the call is running on the server
    call.cancel()
    assert _handled_eventually(port, "WatchRequests", "Canceled", service="entitlement.v1.AccessPackageRequests")

    def cancelled_line():
        return any('"grpc.code":"CANCELLED"' in line and "WatchRequests" in line for line in s.log(100_000).splitlines())

    deadline = time.monotonic() + 3
    while not cancelled_line() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cancelled_line(), "the access log has no line for the cancelled call"


def test_every_metric_family_says_what_it_counts(observed):
    """Each family has a # HELP line as well as its # TYPE (operators read them in Prometheus),
    and the exposition still parses."""
    s, port = observed
    s.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                          metadata=admin_md(), timeout=5)
    text = scrape(port)
    typed = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    helped = {line.split()[2]: line.split(" ", 3)[3] for line in text.splitlines() if line.startswith("# HELP ")}
    assert {"grpc_server_handled_total", "grpc_server_handling_seconds", "entitlement_store_committing",
            "entitlement_delivery_backlog"} <= typed
    assert typed - set(helped) == set(), "families without # HELP"
    assert all(len(h) > 10 for h in helped.values()), helped
    families = {f.name: f.documentation for f in text_string_to_metric_families(text)}
    assert families["grpc_server_handled"].startswith("RPCs completed")


def test_metrics_endpoint_serves_only_metrics(observed):
    _, port = observed
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
    assert e.value.code == 404


def test_one_json_access_line_per_call_with_the_trace_id_and_no_token(observed):
    s, _ = observed
    token = mint("oid-logged", [GLOBAL_ADMIN])
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    s.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                          metadata=bearer(token) + (("traceparent", f"00-{trace}-00f067aa0ba902b7-01"),), timeout=5)
    s.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1), metadata=bearer(token),
                          timeout=5)
    import time
    time.sleep(0.3)
    log = s.log(10_000_000)
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    calls = [x for x in lines if x.get("message") == "call"]
    traced = [x for x in calls if x.get("trace_id") == trace]
    assert len(traced) == 1, "the caller's traceparent trace id is logged"
    line = traced[0]
    assert line["grpc.method"] == f"/{SERVICE}/ListRequests" and line["grpc.code"] == "OK"
    assert line["caller"] == "oid-logged" and line["peer"].startswith("127.0.0.1:")
    assert float(line["duration_ms"]) >= 0 and int(line["response_bytes"]) > 0
    untraced = [x for x in calls if x.get("caller") == "oid-logged" and x["trace_id"] != trace]
    assert untraced and len(untraced[-1]["trace_id"]) == 32, "a trace id is generated when none is sent"
    assert token not in log and token.split(".")[2] not in log, "a token reached the log"


def test_access_line_names_the_client_a_proxy_forwarded_for(observed):
    """Behind nginx or Envoy every call comes from the proxy's address; the client it served is
    in x-forwarded-for, logged beside the peer (cleaned like any caller text), never instead."""
    import time
    s, _ = observed
    token = mint("oid-forwarded", [GLOBAL_ADMIN])
    for forwarded in ("203.0.113.7", "198.51.100.1, 10.0.0.2\nforged"):
        s.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                              metadata=bearer(token) + (("x-forwarded-for", forwarded.replace("\n", " ")),),
                              timeout=5)
    s.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1), metadata=bearer(token),
                          timeout=5)
    time.sleep(0.3)
    lines = [json.loads(x) for x in s.log(10_000_000).splitlines() if x.startswith("{")]
    calls = [x for x in lines if x.get("message") == "call" and x.get("caller") == "oid-forwarded"]
    assert [x.get("forwarded_for") for x in calls[-3:]] == ["203.0.113.7", "198.51.100.1, 10.0.0.2 forged", None]
    assert all(x["peer"].startswith("127.0.0.1:") for x in calls[-3:])


def test_calls_that_reach_no_method_are_logged_and_counted_under_one_series(observed):
    """UNIMPLEMENTED paths, and 405/415 requests, left no access line and no metric; counted per
    path they would let any caller add series without end."""
    import time
    from helpers import H2Client
    s, port = observed
    before = scrape(port)
    with grpc.insecure_channel(s.addr) as channel:
        for i in range(5):
            call = channel.unary_unary(f"/no.Such/Method{i}", request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as e:
                call(b"", timeout=5)
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    raw = H2Client(s.port)
    sid = raw.open(raw.base_headers(f"/{SERVICE}/ListRequests", content_type="text/html"), end_stream=True)
    raw.pump(lambda: raw.calls[sid].ended, timeout=5)
    raw.sock.close()
    after = scrape(port)
    assert handled(after, "unknown", "Unimplemented", service="unknown") - \
        handled(before, "unknown", "Unimplemented", service="unknown") == 5
    assert handled(after, "unknown", "Internal", service="unknown") - handled(before, "unknown", "Internal", service="unknown") == 1
    methods = {dict(k).get("grpc_method") for k in samples(after, "grpc_server_handled_total")}
    assert not any(m.startswith("Method") for m in methods), "a series per made-up path"
    time.sleep(0.3)
    lines = [json.loads(x) for x in s.log(10_000_000).splitlines() if x.startswith("{")]
    refused = [x for x in lines if x.get("message") == "call" and "/no.Such/Method3" in json.dumps(x)]
    assert len(refused) == 1 and refused[0]["grpc.code"] == "UNIMPLEMENTED", refused


def test_a_call_whose_connection_drops_is_counted(observed):
    import time
    from helpers import H2Client, health_body
    s, port = observed
    raw = H2Client(s.port)
    sid = raw.open(raw.base_headers("/grpc.health.v1.Health/Watch"))
    raw.send_body(sid, health_body())
    raw.pump(lambda: raw.calls[sid].messages(), timeout=5)  # the first status: the call is running
    raw.sock.close()  # no RST_STREAM: the connection just goes away
    assert _handled_eventually(port, "Watch", "Canceled")


def _raw_http(port, request, timeout=5.0):
    """Sends raw bytes to the metrics port; returns what came back until it closed (or timed out)."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
            return out, True
        except socket.timeout:
            return out, False


def test_metrics_endpoint_speaks_http_1_1_strictly(observed):
    _, port = observed
    out, _ = _raw_http(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 405 ") and b"\r\nallow: GET, HEAD\r\n" in out
    out, closed = _raw_http(port, b"GET http://x/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and b"grpc_server_handled_total" in out, "absolute-form target"
    out, closed = _raw_http(port, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and closed, "an HTTP/1.1 request without Host"
    out, closed = _raw_http(port, b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n")
    assert out.count(b"HTTP/1.1 400 ") == 1 and closed, "one refusal, then the connection closes"


def test_metrics_port_connections_are_capped_and_must_send_a_request(observed):
    """Idle or trickling connections to the metrics port cannot pile up and starve the gRPC port
    of descriptors: past 64 they are closed as accepted, and each is closed 10 s after it opened
    (or after its last reply) without a whole request."""
    import socket
    s, port = observed
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(100)]
    try:
        for sock in held:
            sock.sendall(b"GET /metr")  # a request that never finishes
        time.sleep(1)
        closed = 0
        for sock in held:
            sock.settimeout(0.05)
            try:
                closed += sock.recv(1) == b""
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed += 1
        assert closed == 36, f"{closed} of 100 connections closed; 64 may stay open"
        assert s.health().Check(health_pb.HealthCheckRequest(), timeout=5).status == health_pb.HealthCheckResponse.SERVING
        deadline = time.monotonic() + 15
        for sock in held:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                assert sock.recv(1) == b"", "a connection without a whole request stays open"
            except ConnectionResetError:
                pass
    finally:
        for sock in held:
            sock.close()
    assert "grpc_server_handled_total" in scrape(port)

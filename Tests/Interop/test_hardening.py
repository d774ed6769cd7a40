"""Step 5 hardening, against the real server process: bounded error text, shutdown with calls
in flight, keepalive and connection age, the connection cap, and refused calls that cannot
fill the audit log."""

import json
import threading
import time

import grpc

from helpers import (FIXTURE, GOAWAY, HEADERS, LIST_PATH, PING, REPROCESS_PATH, ACK, END_STREAM,
                     H2Client, RawFrames, admin_md, bearer, frame, grpc_frame, list_body, pb,
                     pb_grpc, wait_closed)

C = grpc.StatusCode


def eligible_ids(ap="ap-1"):
    return [r["id"] for r in FIXTURE["requests"] if r["accessPackageId"] == ap]


# ------------------------------------------------------------------ bounded text


def test_megabyte_duplicate_id_is_invalid_argument_with_a_short_message(server):
    huge = "x" * (1900 * 1024)  # two of them stay under the 4 MiB message limit
    with grpc.insecure_channel(server.addr, options=[("grpc.max_send_message_length", 8 << 20)]) as ch:
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        try:
            stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=[huge, huge]),
                           metadata=admin_md(), timeout=10)
            raise AssertionError("a duplicate id was accepted")
        except grpc.RpcError as e:
            assert e.code() == C.INVALID_ARGUMENT, (e.code(), e.details()[:200])
            assert "duplicates request_ids[0]" in e.details()
            assert len(e.details().encode()) <= 1100, len(e.details())


def test_long_unknown_path_gets_a_clipped_unimplemented(server):
    h2 = H2Client(server.port)
    try:
        path = "/x." + "A" * 12000 + "/M"
        call = h2.call(path, list_body())
        assert call.status == 12, call
        assert len(call.trailers.get("grpc-message", "")) <= 1100 * 3
    finally:
        h2.close()


# ------------------------------------------------------------------ shutdown with calls in flight


def test_sigterm_with_100_calls_in_flight_exits_0_cleanly(launcher):
    s = launcher(extra=["--shutdown-grace-seconds", "0"])
    errors = []
    barrier = threading.Barrier(101)

    def one(i):
        with grpc.insecure_channel(s.addr) as ch:
            stub = pb_grpc.AccessPackageRequestsStub(ch)
            barrier.wait()
            try:
                stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-big", page_size=1000),
                                  metadata=admin_md(), timeout=10)
            except grpc.RpcError as e:
                errors.append(e.code())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(0.02)
    s.proc.send_signal(15)
    rc = s.proc.wait(20)
    for t in threads:
        t.join(20)
    log = s.log(200000)
    assert rc == 0, log[-3000:]
    assert "cannot schedule" not in log.lower(), log[-3000:]
    assert "fatal error" not in log.lower(), log[-3000:]


def test_clients_resetting_tcp_right_after_sending_do_not_crash_the_server(launcher):
    """A write failing mid-flush re-entered flush() (channelReadComplete) and aborted the process."""
    import socket
    import struct
    from helpers import PREFACE
    s = launcher()
    burst = PREFACE + frame(4, 0, 0) + b"".join(frame(PING, 0, 0, b"12345678") for _ in range(50))

    def one():
        sock = socket.create_connection(("127.0.0.1", s.port))
        sock.sendall(burst)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST while the server still has our bytes unread

    for _ in range(60):
        threads = [threading.Thread(target=one) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    time.sleep(0.5)
    assert s.alive(), s.log()[-2000:]
    with grpc.insecure_channel(s.addr) as ch:
        pb_grpc.AccessPackageRequestsStub(ch).ListRequests(
            pb.ListRequestsRequest(access_package_id="ap-1", page_size=1), metadata=admin_md(), timeout=5)


def test_connections_reset_with_a_reply_pending_are_freed_at_once(launcher):
    """A read completed after the reset flushed the pending reply; closing its stream armed the
    5-minute idle timer, which kept each connection (~7 KiB) alive for those 5 minutes: an
    unauthenticated client could grow the process and slow every call."""
    import socket
    import struct
    from helpers import PREFACE, health_body
    import hpack
    s = launcher()
    block = hpack.Encoder().encode([(":method", "POST"), (":scheme", "http"), (":path", "/grpc.health.v1.Health/Check"),
                                    (":authority", "x"), ("content-type", "application/grpc")])
    request = PREFACE + frame(4, 0, 0) + frame(HEADERS, 0x4, 1, block) + frame(0, END_STREAM, 1, health_body())

    def rss_kib():
        for line in open(f"/proc/{s.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    def burst(n):
        for _ in range(n):
            sock = socket.create_connection(("127.0.0.1", s.port))
            sock.sendall(request)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST before the reply is read

    burst(2_000)  # the allocator's first growth
    time.sleep(1)
    before = rss_kib()
    burst(4_000)
    time.sleep(1)
    grown = rss_kib() - before
    assert grown < 8_000, f"RSS grew {grown} KiB over 4,000 reset connections (it was ~28 MiB when each was kept)"
    assert s.alive()


def test_a_connection_that_sends_no_preface_is_closed_not_held_as_idle(launcher):
    """Silent sockets (or half a preface) were held 5 minutes each, with a --max-connections slot."""
    import socket
    from helpers import PREFACE
    s = launcher()
    silent = socket.create_connection(("127.0.0.1", s.port))
    half = socket.create_connection(("127.0.0.1", s.port))
    half.sendall(PREFACE[:10])
    talking = H2Client(s.port)  # preface and SETTINGS: kept
    for sock in (silent, half):
        sock.settimeout(30)
        data = b""
        while chunk := sock.recv(65536):  # the server's SETTINGS, then the close
            data += chunk
        sock.close()
    deadline = time.monotonic() + 5
    while "sent no HTTP/2 preface" not in s.log() and time.monotonic() < deadline:
        time.sleep(0.1)  # the log is written every 50 ms
    assert s.log().count("sent no HTTP/2 preface") == 2, s.log()[-2000:]
    sid = talking.open(talking.base_headers("/grpc.health.v1.Health/Check"), end_stream=False)
    from helpers import health_body
    talking.send_body(sid, health_body())
    talking.pump(lambda: talking.calls[sid].ended, timeout=5)
    assert talking.calls[sid].ended and not talking.goaway, "a client that spoke HTTP/2 was closed too"


# ------------------------------------------------------------------ keepalive


def _open_call_without_body(port):
    """A raw connection with one call open (HEADERS, no END_STREAM) that never reads again."""
    h2 = H2Client(port)
    headers = h2.base_headers(LIST_PATH, token=None)
    sid = h2.open(headers, end_stream=False)
    return h2, sid


def test_silent_peer_with_a_call_open_is_closed_by_keepalive(launcher):
    s = launcher(extra=["--keepalive-seconds", "1", "--keepalive-timeout-seconds", "1"])
    raw = RawFrames(s.port)
    raw.start()
    headers_block = _hpack_request_headers(s.port)
    raw.send(frame(HEADERS, 0x4, 1, headers_block))  # END_HEADERS, no END_STREAM: the call stays open
    # Read without ever answering: the server's PING goes unacknowledged.
    frames, eof = raw.read_frames(6.0, stop=lambda f: f[0] == GOAWAY)
    pings = [f for f in frames if f[0] == PING and not f[1] & ACK]
    assert pings, "no keepalive PING while a call was open"
    if not eof and not any(f[0] == GOAWAY for f in frames):
        frames2, eof = raw.read_frames(3.0)
        assert eof, "connection not closed after the keepalive timeout"
    raw.close()


def test_responsive_peer_is_pinged_but_kept(launcher):
    s = launcher(extra=["--keepalive-seconds", "1", "--keepalive-timeout-seconds", "1"])
    h2, sid = _open_call_without_body(s.port)
    try:
        h2.pump(lambda: len(h2.pings) >= 2, timeout=6.0)
        assert len(h2.pings) >= 2, "expected keepalive PINGs while the call was open"
        assert h2.goaway is None and not h2.eof
        # Finish the call: it is answered normally on the same connection.
        h2.send_body(sid, list_body())
        call = h2.wait(sid, timeout=5)
        assert call.status == 16  # no token: UNAUTHENTICATED, but served
    finally:
        h2.close()


def test_no_pings_on_an_idle_connection(launcher):
    s = launcher(extra=["--keepalive-seconds", "1", "--keepalive-timeout-seconds", "1"])
    h2 = H2Client(s.port)
    try:
        h2.pump(lambda: False, timeout=3.5)
        assert h2.pings == [], "the server pinged a connection with no call open"
        assert h2.goaway is None and not h2.eof
    finally:
        h2.close()


def test_client_pings_every_second_are_tolerated(launcher):
    """grpc-go clients ping as often as every 10 s; far more than that must still be fine."""
    s = launcher()
    h2 = H2Client(s.port)
    try:
        for i in range(6):
            h2.conn.ping(bytes([i]) * 8)
            h2.flush()
            h2.pump(lambda: False, timeout=1.0)
        assert h2.goaway is None and not h2.eof
        call = h2.call("/grpc.health.v1.Health/Check", grpc_frame(b""))
        assert call.status == 0
    finally:
        h2.close()


# ------------------------------------------------------------------ connection age and cap


def test_max_connection_age_sends_a_graceful_goaway_and_clients_carry_on(launcher):
    s = launcher(extra=["--max-connection-age-seconds", "1", "--max-connection-age-grace-seconds", "5"])
    h2 = H2Client(s.port)
    try:
        h2.pump(lambda: h2.goaway is not None, timeout=5.0)
        assert h2.goaway is not None, "no GOAWAY after the maximum connection age"
        assert int(h2.goaway.error_code) == 0
    finally:
        h2.close()
    # A grpcio channel reconnects by itself across age-based GOAWAYs.
    with grpc.insecure_channel(s.addr) as ch:
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        deadline = time.monotonic() + 3.5
        n = 0
        while time.monotonic() < deadline:
            stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                              metadata=admin_md(), timeout=5)
            n += 1
            time.sleep(0.05)
        assert n > 10


def test_connections_past_the_cap_are_closed_at_accept(launcher):
    s = launcher(extra=["--max-connections", "3"])
    s.close_channel()
    time.sleep(0.5)  # the readiness check's connection must be gone before counting to three
    kept = [H2Client(s.port) for _ in range(3)]
    try:
        for h2 in kept:
            assert h2.call("/grpc.health.v1.Health/Check", grpc_frame(b"")).status == 0
        extra = RawFrames(s.port)
        extra.start()
        _, eof = extra.read_frames(3.0)
        assert eof, "a connection past --max-connections was served"
        extra.close()
        for h2 in kept:
            assert h2.call("/grpc.health.v1.Health/Check", grpc_frame(b"")).status == 0
    finally:
        for h2 in kept:
            h2.close()


# ------------------------------------------------------------------ audit flood


def test_refused_reprocess_flood_is_aggregated_in_the_audit_log(launcher):
    s = launcher()
    audit = s.data_dir / "audit.log"
    before = len(audit.read_text().splitlines()) if audit.exists() else 0
    stub = s.stub()
    n = 300
    for _ in range(n):
        try:
            stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=["r"]),
                           metadata=bearer("not-a-token"), timeout=5)
        except grpc.RpcError as e:
            assert e.code() == C.UNAUTHENTICATED
    time.sleep(2.5)  # one aggregation window and the flush after it
    lines = [json.loads(x) for x in audit.read_text().splitlines()[before:]]
    denied = [x for x in lines if x["decision"] == "denied"]
    assert sum(x.get("count", 1) for x in denied) == n, denied
    assert len(denied) <= 10, f"{len(denied)} rows for {n} refused calls"
    assert all(x.get("peer", "").startswith("127.0.0.1:") for x in denied)
    # An authorized call still gets its own row at once.
    stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=["nope"]),
                   metadata=admin_md(), timeout=5)
    time.sleep(0.2)
    last = json.loads(audit.read_text().splitlines()[-1])
    assert last["decision"] == "allowed" and last.get("count", 1) == 1


def _hpack_request_headers(port):
    import hpack
    return hpack.Encoder().encode([(":method", "POST"), (":scheme", "http"), (":path", LIST_PATH),
                                   (":authority", f"127.0.0.1:{port}"),
                                   ("content-type", "application/grpc"), ("te", "trailers")])

"""CONTRACT §1 on the wire: a raw h2c socket (prior knowledge), no gRPC library."""

import gzip
import re
import socket
import struct
import time
import urllib.parse
import zlib

import hpack
import pytest

from helpers import (CONTINUATION, END_HEADERS, END_STREAM, GOAWAY, HEADERS, HEALTH_PATH,
                     LIST_PATH, PING, PREFACE, RST_STREAM, SETTINGS, WINDOW_UPDATE, H2Client,
                     RawFrames, admin_md, frame, grpc_frame, health_body, list_body, mint,
                     normal_call_works, pb, wait_closed, GLOBAL_ADMIN, REPROCESS_PATH)

@pytest.fixture(scope="module")
def token():
    return mint("oid-raw-admin", [GLOBAL_ADMIN])


@pytest.fixture
def h2c(server):
    c = H2Client(server.port)
    yield c
    c.close()


def assert_trailers_only(call, status):
    assert call.status == status, call
    assert call.trailers_only, f"expected one HEADERS frame with END_STREAM, got {call}"
    assert call.headers.get(":status") == "200", call
    assert call.headers.get("content-type", "").startswith("application/grpc"), call


# ---------------------------------------------------------------- ordinary calls


def test_raw_health_check_ok(h2c):
    call = h2c.call(HEALTH_PATH, health_body())
    assert call.http_status == 200 and call.status == 0, call
    assert len(call.header_blocks) == 2, "headers, data, trailers"
    (flag, msg), = call.messages()
    assert msg == b"\x08\x01"  # status: SERVING


def test_raw_list_ok(h2c, token):
    call = h2c.call(LIST_PATH, list_body(page_size=3), token=token)
    assert call.status == 0, call
    assert len(call.messages()) == 1


def test_missing_te_trailers_is_tolerated(h2c, token):
    call = h2c.call(LIST_PATH, list_body(page_size=3), token=token, te=False)
    assert call.status == 0, call
    call = h2c.call(HEALTH_PATH, health_body(), te=False)
    assert call.status == 0, call


def test_content_type_application_grpc_proto_accepted(h2c, token):
    call = h2c.call(LIST_PATH, list_body(page_size=1), token=token,
                    content_type="application/grpc+proto")
    assert call.status == 0, call


def test_server_settings_advertise_256_concurrent_streams(h2c):
    h2c.pump(lambda: 3 in h2c.remote_settings, timeout=3)
    assert h2c.remote_settings.get(3) == 256, h2c.remote_settings  # MAX_CONCURRENT_STREAMS


def test_response_not_compressed_with_unlisted_encoding(h2c, token):
    # No grpc-accept-encoding offered: the response must not be compressed.
    call = h2c.call(LIST_PATH, list_body(page_size=1000), token=token)
    assert call.status == 0, call
    assert call.headers.get("grpc-encoding", "identity") == "identity", call.headers
    assert all(flag == 0 for flag, _ in call.messages())
    # identity only: same.
    call = h2c.call(LIST_PATH, list_body(page_size=1000), token=token,
                    extra=[("grpc-accept-encoding", "identity")])
    assert call.headers.get("grpc-encoding", "identity") == "identity", call.headers
    assert all(flag == 0 for flag, _ in call.messages())


def test_response_compression_only_with_listed_encoding(h2c, token):
    call = h2c.call(LIST_PATH, list_body(page_size=1000), token=token,
                    extra=[("grpc-accept-encoding", "gzip")])
    assert call.status == 0, call
    enc = call.headers.get("grpc-encoding", "identity")
    assert enc in ("identity", "gzip"), call.headers
    (flag, msg), = call.messages()
    if flag:
        assert enc == "gzip"
        msg = gzip.decompress(msg)
    assert len(pb.ListRequestsResponse.FromString(msg).requests) == 30


def test_streamed_responses_are_compressed_with_a_listed_encoding(h2c):
    # Reflection streams a 3 KiB file descriptor: compressed when the caller lists gzip, as
    # unary responses are; plain when it lists nothing.
    from grpc_reflection.v1alpha import reflection_pb2 as rpb
    path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    body = grpc_frame(rpb.ServerReflectionRequest(
        file_containing_symbol="entitlement.v1.AccessPackageRequests").SerializeToString())
    call = h2c.call(path, body, extra=[("grpc-accept-encoding", "gzip")])
    assert call.status == 0, call
    assert call.headers.get("grpc-encoding") == "gzip", call.headers
    (flag, msg), = call.messages()
    assert flag == 1
    plain = gzip.decompress(msg)
    assert len(msg) < len(plain)
    assert rpb.ServerReflectionResponse.FromString(plain).file_descriptor_response.file_descriptor_proto
    call = h2c.call(path, body)
    assert call.status == 0, call
    assert call.headers.get("grpc-encoding", "identity") == "identity", call.headers
    (flag, msg), = call.messages()
    assert flag == 0 and msg == plain


# ---------------------------------------------------------------- HTTP-level errors


def test_non_grpc_content_type_is_415(h2c, token):
    call = h2c.call(LIST_PATH, b"hello", token=token, content_type="text/plain")
    assert call.http_status == 415, call


def test_json_content_type_is_415(h2c, token):
    call = h2c.call(LIST_PATH, b"{}", token=token, content_type="application/json")
    assert call.http_status == 415, call


def test_get_is_rejected(h2c):
    headers = [(":method", "GET"), (":scheme", "http"), (":path", HEALTH_PATH),
               (":authority", f"127.0.0.1:{h2c.port}")]
    call = h2c.call(HEALTH_PATH, None, headers=headers)
    # 405 preferred; any clear non-200 (or a refused stream) is acceptable
    assert call.http_status != 200, call
    assert call.http_status is not None or call.reset is not None, call


# ---------------------------------------------------------------- gRPC protocol errors


def test_unsupported_encoding_is_unimplemented_with_accept_encoding(h2c, token):
    call = h2c.call(LIST_PATH, grpc_frame(b"\x00\x01\x02", compressed=True), token=token,
                    extra=[("grpc-encoding", "snappy")])
    assert_trailers_only(call, 12)
    accepted = {e.strip() for e in call.headers.get("grpc-accept-encoding", "").split(",")}
    assert {"gzip", "deflate"} <= accepted, call.headers


def test_compressed_flag_without_grpc_encoding_is_internal(h2c, token):
    body = grpc_frame(gzip.compress(pb.ListRequestsRequest(access_package_id="ap-3")
                                    .SerializeToString()), compressed=True)
    call = h2c.call(LIST_PATH, body, token=token)
    assert call.status == 13, call


def test_compressed_flag_with_identity_encoding_is_internal(h2c, token):
    body = grpc_frame(b"\x0a\x04ap-3", compressed=True)
    call = h2c.call(LIST_PATH, body, token=token, extra=[("grpc-encoding", "identity")])
    assert call.status == 13, call


@pytest.mark.parametrize("name", ["gzip", "GZIP"])  # content codings are case-insensitive
def test_gzip_request_with_encoding_header_ok(h2c, token, name):
    msg = pb.ListRequestsRequest(access_package_id="ap-3", page_size=2).SerializeToString()
    call = h2c.call(LIST_PATH, grpc_frame(gzip.compress(msg), compressed=True), token=token,
                    extra=[("grpc-encoding", name)])
    assert call.status == 0, call


def test_deflate_request_with_encoding_header_ok(h2c, token):
    msg = pb.ListRequestsRequest(access_package_id="ap-3", page_size=2).SerializeToString()
    call = h2c.call(LIST_PATH, grpc_frame(zlib.compress(msg), compressed=True), token=token,
                    extra=[("grpc-encoding", "deflate")])
    assert call.status == 0, call


def test_zero_messages_in_unary_call_is_unimplemented(h2c, token):
    call = h2c.call(LIST_PATH, b"", token=token)
    assert call.status == 12, call


def test_headers_only_end_stream_unary_is_unimplemented(h2c, token):
    call = h2c.call(LIST_PATH, None, token=token)
    assert call.status == 12, call


def test_two_messages_in_unary_call_is_unimplemented(h2c, token):
    one = list_body(page_size=1)
    call = h2c.call(LIST_PATH, one + one, token=token)
    assert call.status == 12, call
    assert not call.messages(), "no response message may be sent for a rejected call"


def test_invalid_protobuf_is_invalid_argument(h2c, token):
    call = h2c.call(LIST_PATH, grpc_frame(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
                    token=token)
    assert call.status in (3, 13), call


def test_wrong_wire_type_is_an_unknown_field(h2c, token):
    # field 1 (string) sent as varint: an unknown field, as protoc's parsers take it, so the
    # request names no package (INVALID_ARGUMENT saying so); next to a real field 1 it is ignored.
    call = h2c.call(LIST_PATH, grpc_frame(b"\x08\x01"), token=token)
    assert call.status == 3 and "access_package_id" in call.trailers.get("grpc-message", ""), call
    call = h2c.call(LIST_PATH, grpc_frame(b"\x08\x01" + pb.ListRequestsRequest(access_package_id="ap-3").SerializeToString()),
                    token=token)
    assert call.status == 0, call


def test_truncated_message_is_an_error(h2c, token):
    call = h2c.call(LIST_PATH, grpc_frame(b"\x0a\x04ap-3", length=100), token=token)
    assert call.status in (3, 12, 13), call


def test_truncated_prefix_is_an_error(h2c, token):
    call = h2c.call(LIST_PATH, b"\x00\x00\x00", token=token)
    assert call.status in (3, 12, 13), call


def test_invalid_protobuf_does_not_crash(server, token):
    c = H2Client(server.port)
    try:
        for body in (b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x05\x08", b"\x80", b"\x0b", b"\x1a\x01"):
            call = c.call(LIST_PATH, grpc_frame(body), token=token)
            assert call.status is not None or call.reset is not None, call
    finally:
        c.close()
    assert server.alive()
    assert normal_call_works(server.port)


@pytest.mark.parametrize("case", ["no-token", "unknown-method", "unsupported-encoding",
                                  "permission-denied", "bad-package"])
def test_errors_before_a_message_are_trailers_only(h2c, token, case):
    if case == "no-token":
        call, status = h2c.call(LIST_PATH, list_body()), 16
    elif case == "unknown-method":
        call, status = h2c.call("/entitlement.v1.AccessPackageRequests/Nope", list_body(),
                                token=token), 12
    elif case == "unsupported-encoding":
        call, status = h2c.call(LIST_PATH, grpc_frame(b"x", compressed=True), token=token,
                                extra=[("grpc-encoding", "br")]), 12
    elif case == "permission-denied":
        call, status = h2c.call(LIST_PATH, list_body(), token=mint("oid-nobody")), 7
    else:
        call, status = h2c.call(LIST_PATH, list_body(ap=""), token=token), 3
    assert_trailers_only(call, status)


def test_grpc_message_is_percent_encoded(h2c, token):
    odd = "ünï%cødé\u2603"
    call = h2c.call(LIST_PATH, list_body(ap=odd), token=token)
    assert call.status == 5, call
    raw = call.trailers.get("grpc-message", "")
    assert raw, call
    assert all(0x20 <= ord(ch) <= 0x7E for ch in raw), f"not percent-encoded: {raw!r}"
    assert not re.search(r"%(?![0-9A-Fa-f]{2})", raw), f"stray % in {raw!r}"
    decoded = urllib.parse.unquote(raw, errors="strict")  # valid UTF-8 once decoded
    if "%C3%BC" in raw.upper():  # the message echoes the id: it must survive the round trip
        assert odd in decoded, decoded


def test_grpc_timeout_tiny_is_deadline_exceeded(h2c, token):
    call = h2c.call(LIST_PATH, list_body(page_size=1000), token=token,
                    extra=[("grpc-timeout", "1n")])
    assert call.status == 4, call


def test_grpc_timeout_generous_is_ok(h2c, token):
    call = h2c.call(LIST_PATH, list_body(page_size=5), token=token,
                    extra=[("grpc-timeout", "30S")])
    assert call.status == 0, call


def test_grpc_timeout_elapses_while_waiting_for_the_body(server, token):
    c = H2Client(server.port)
    try:
        sid = c.open(c.base_headers(LIST_PATH, token, extra=[("grpc-timeout", "300m")]))
        t0 = time.monotonic()
        call = c.wait(sid, timeout=5)
        assert call.status == 4, call
        assert time.monotonic() - t0 < 3
    finally:
        c.close()


@pytest.mark.parametrize("timeout", ["1n", "1u", "100u", "1m"])
def test_expired_deadline_is_never_answered_ok(h2c, token, timeout):
    # The work takes longer than these deadlines, so the answer must be DEADLINE_EXCEEDED
    # every time, however fast the handler is.
    for _ in range(10):
        call = h2c.call(LIST_PATH, list_body(page_size=1), token=token, extra=[("grpc-timeout", timeout)])
        assert call.status == 4, call


def test_header_list_over_16kib_is_rejected(server, token):
    c = H2Client(server.port)
    try:
        call = c.call(HEALTH_PATH, health_body(), extra=[("x-big", "a" * 20_000)])
        assert call.status != 0 or call.http_status not in (200, None), call
    finally:
        c.close()
    assert normal_call_works(server.port)


def test_header_list_of_8kib_is_fine(h2c):
    call = h2c.call(HEALTH_PATH, health_body(), extra=[("x-medium", "a" * 8_000)])
    assert call.status == 0, call


def test_no_server_ping_on_idle_connection(server, token):
    c = H2Client(server.port)
    try:
        assert c.call(LIST_PATH, list_body(page_size=1), token=token).status == 0
        c.pump(lambda: False, timeout=2.5)
        assert not c.pings, "server sent PING on an idle connection"
    finally:
        c.close()


# ---------------------------------------------------------------- abuse


def _hpack_block(port, path=HEALTH_PATH, extra=()):
    enc = hpack.Encoder()
    return enc.encode([(":method", "POST"), (":scheme", "http"), (":path", path),
                       (":authority", f"127.0.0.1:{port}"), ("content-type", "application/grpc"),
                       ("te", "trailers")] + list(extra), huffman=False)


def _after_abuse(server):
    assert server.alive(), f"server died:\n{server.log()}"
    assert normal_call_works(server.port)


def test_rapid_reset_closes_connection(server):
    raw = RawFrames(server.port)
    try:
        raw.start()
        block = _hpack_block(server.port)
        batch, sid, sent = [], 1, 0
        for i in range(2000):
            batch.append(frame(HEADERS, END_HEADERS, sid, block))
            batch.append(frame(RST_STREAM, 0, sid, struct.pack(">I", 8)))  # CANCEL
            sid += 2
            if len(batch) >= 200:
                if not raw.send(b"".join(batch)):
                    break
                sent += len(batch) // 2
                batch = []
        closed, frames = wait_closed(raw, timeout=8)
        assert closed, f"connection still open after {sent} rapid resets"
    finally:
        raw.close()
    _after_abuse(server)


def test_continuation_flood_closes_connection(server):
    raw = RawFrames(server.port)
    try:
        raw.start()
        block = _hpack_block(server.port)
        raw.send(frame(HEADERS, 0, 1, block))  # no END_HEADERS
        enc = hpack.Encoder()
        piece = enc.encode([("x-flood", "b" * 100)], huffman=False)
        for _ in range(100):
            if not raw.send(b"".join(frame(CONTINUATION, 0, 1, piece) for _ in range(100))):
                break
        closed, _ = wait_closed(raw, timeout=8)
        assert closed, "connection still open after a CONTINUATION flood"
    finally:
        raw.close()
    _after_abuse(server)


def test_empty_continuation_flood_closes_connection(server):
    raw = RawFrames(server.port)
    try:
        raw.start()
        raw.send(frame(HEADERS, 0, 1, _hpack_block(server.port)))
        for _ in range(50):
            if not raw.send(frame(CONTINUATION, 0, 1, b"") * 1000):
                break
        closed, _ = wait_closed(raw, timeout=8)
        assert closed, "connection still open after 50,000 empty CONTINUATION frames"
    finally:
        raw.close()
    _after_abuse(server)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 64,
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
], ids=["http1", "bad-pri", "tls"])
def test_bad_preface_closes_connection(server, garbage):
    raw = RawFrames(server.port)
    try:
        raw.send(garbage)
        frames, eof = raw.read_frames(8)
        assert eof or any(f[0] == GOAWAY for f in frames), "connection not closed after bad preface"
    finally:
        raw.close()
    _after_abuse(server)


def test_200kib_header_closes_connection(server):
    raw = RawFrames(server.port)
    try:
        raw.start()
        block = _hpack_block(server.port, extra=[("x-huge", "h" * 200 * 1024)])
        # split into HEADERS + CONTINUATIONs of 16 KiB (the default max frame size)
        chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)]
        out = [frame(HEADERS, END_HEADERS if len(chunks) == 1 else 0, 1, chunks[0])]
        for i, ch in enumerate(chunks[1:], 1):
            out.append(frame(CONTINUATION, END_HEADERS if i == len(chunks) - 1 else 0, 1, ch))
        raw.send(b"".join(out) + frame(0, END_STREAM, 1, health_body()))
        t0 = time.monotonic()
        frames, eof = raw.read_frames(8, stop=lambda f: f[0] == GOAWAY)
        took = time.monotonic() - t0
        got_goaway = any(f[0] == GOAWAY for f in frames)
        assert eof or got_goaway, f"connection not closed; frames: {[f[0] for f in frames]}"
        assert took < 3, f"connection closed only after {took:.1f}s"
    finally:
        raw.close()
    _after_abuse(server)


def test_settings_flood_closes_connection(server):
    raw = RawFrames(server.port, timeout=3)
    try:
        raw.start()
        one = frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535))
        for _ in range(100):
            if not raw.send(one * 1000):
                break
        closed, _ = wait_closed(raw, timeout=8)
        assert closed, "connection still open after 100,000 SETTINGS frames"
    finally:
        raw.close()
    _after_abuse(server)


def test_ping_flood_closes_connection(server):
    raw = RawFrames(server.port, timeout=3)
    try:
        raw.start()
        one = frame(PING, 0, 0, b"12345678")
        for _ in range(100):
            if not raw.send(one * 1000):
                break
        closed, _ = wait_closed(raw, timeout=8)
        assert closed, "connection still open after 100,000 PING frames"
    finally:
        raw.close()
    _after_abuse(server)


def test_zero_window_update_closes_connection(server):
    raw = RawFrames(server.port, timeout=3)
    try:
        raw.start()
        one = frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0))  # zero increment: protocol error
        raw.send(one * 10)
        closed, _ = wait_closed(raw, timeout=5)
        assert closed, "zero WINDOW_UPDATE is a connection error"
    finally:
        raw.close()
    _after_abuse(server)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compression_bomb_is_stopped(server, token, encoding):
    inner = b"\x22" + b"\xff\xff\xff\x1f" + b"\x00" * (64 * 1024 * 1024)  # a 64 MiB field
    body = gzip.compress(inner, 9) if encoding == "gzip" else zlib.compress(inner, 9)
    assert len(body) < 200 * 1024
    hwm_before = server.rss_hwm_kib()
    c = H2Client(server.port, timeout=10)
    try:
        t0 = time.monotonic()
        call = c.call(LIST_PATH, grpc_frame(body, compressed=True), token=token,
                      extra=[("grpc-encoding", encoding)], timeout=10)
        elapsed = time.monotonic() - t0
        refused = call.status == 8 or call.reset is not None or c.goaway is not None or c.eof
        assert refused, call
        if call.status is not None:
            assert call.status == 8, call
        assert elapsed < 8, f"took {elapsed:.1f}s"
    finally:
        c.close()
    hwm_after = server.rss_hwm_kib()
    if hwm_before and hwm_after:
        grew = (hwm_after - hwm_before) / 1024
        assert grew < 40, f"peak RSS grew by {grew:.0f} MiB: the bomb was inflated past the limit"
    _after_abuse(server)


def test_other_connections_keep_being_served_during_abuse(server, token):
    good = H2Client(server.port)
    bad = RawFrames(server.port, timeout=3)
    try:
        assert good.call(LIST_PATH, list_body(page_size=1), token=token).status == 0
        bad.send(b"garbage garbage garbage garbage\r\n\r\n")
        bad.read_frames(3)
        assert good.call(LIST_PATH, list_body(page_size=1), token=token).status == 0
    finally:
        good.close()
        bad.close()


def test_largest_grpc_timeout_is_served(server, token):
    # 99999999H (about 11,000 years) must not overflow anything: the call is answered and the
    # server keeps serving.
    c = H2Client(server.port)
    try:
        call = c.call(LIST_PATH, list_body(page_size=1), token=token, extra=[("grpc-timeout", "99999999H")])
        assert call.status == 0, call
    finally:
        c.close()
    assert normal_call_works(server.port)


def test_second_message_is_refused_before_end_of_stream(server, token):
    # A unary call that starts a second message gets UNIMPLEMENTED at once; the server does not
    # buffer the rest or wait for END_STREAM.
    c = H2Client(server.port)
    try:
        sid = c.open(c.base_headers(LIST_PATH, token))
        c.conn.send_data(sid, list_body(page_size=1) + b"\x00\x00\x40\x00\x00", end_stream=False)
        c.flush()
        call = c.wait(sid, timeout=5)
        assert call.status == 12, call
    finally:
        c.close()
    assert normal_call_works(server.port)


def test_stalled_request_body_is_ended(launcher, token):
    # A call that sends its headers and then nothing ends (CANCELLED) after the body timeout, and
    # the connection keeps serving.
    srv = launcher(extra=["--request-body-timeout-seconds", "1"])
    c = H2Client(srv.port)
    try:
        sid = c.open(c.base_headers(LIST_PATH, token))
        t0 = time.monotonic()
        call = c.wait(sid, timeout=6)
        assert call.status == 1, call
        assert time.monotonic() - t0 < 5
        assert c.call(LIST_PATH, list_body(page_size=1), token=token).status == 0
    finally:
        c.close()


def test_streams_past_256_are_refused(server, token):
    # 300 calls opened at once (headers only, before any SETTINGS ack round trip): the server keeps
    # 256 and refuses the rest with REFUSED_STREAM, and the connection stays usable.
    c = H2Client(server.port)
    try:
        ids = [c.open(c.base_headers(LIST_PATH, token)) for _ in range(300)]
        c.pump(lambda: sum(c.calls[i].reset is not None for i in ids) >= 44, timeout=5)
        refused = [i for i in ids if c.calls[i].reset is not None]
        assert len(refused) == 44, len(refused)
        assert {int(c.calls[i].reset) for i in refused} == {7}  # REFUSED_STREAM
        assert c.remote_settings.get(3) == 256
    finally:
        c.close()
    assert normal_call_works(server.port)

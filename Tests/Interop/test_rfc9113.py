"""RFC 9113 (HTTP/2) MUSTs on the wire, checked against a real server with hand-built frames.

One test per requirement; each docstring cites the section. Where nghttp2 or the project does not
meet a MUST, the test is kept and marked xfail(strict=True) with the defect in its reason.
Error codes: RFC 9113 §7. Stream errors (§5.4.2) may be escalated to connection errors
(§5.4.1: "An endpoint can end a connection at any time"), so tests that require a stream error
accept a GOAWAY with the same code only where they say so.
"""

from __future__ import annotations

import signal
import socket
import struct
import time

import hpack
import pytest

from helpers import (CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, HEALTH_PATH,
                     LIST_PATH, PADDED, PING, PREFACE, PRIORITY, PRIORITY_FLAG, PUSH_PROMISE,
                     RST_STREAM, SETTINGS, WINDOW_UPDATE, ACK, GLOBAL_ADMIN, RawFrames, frame,
                     health_body, list_body, mint, pb, FIXTURE, SERVICE)

# RFC 9113 §7 error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM = range(12)
# RFC 9113 §6.5.2 settings
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, \
    MAX_HEADER_LIST_SIZE = range(1, 7)
MAX_WINDOW = 2**31 - 1
DEFAULT_FRAME = 16384


def xfail(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


# ------------------------------------------------------------------------------- machinery


def settings_frame(pairs=(), flags=0, sid=0):
    return frame(SETTINGS, flags, sid, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def window_update(sid, inc):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc))


def rst_stream(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def raw_header(length, ftype, flags, sid):
    """A frame header alone, for frames whose declared length is the point of the test."""
    return struct.pack(">I", length)[1:] + bytes([ftype, flags]) + struct.pack(">I", sid)


class Conn:
    """One raw HTTP/2 client connection with a connection-wide HPACK encoder and decoder.

    Every frame the server sends is recorded; header blocks are decoded in order (so the
    dynamic table stays in sync) and kept per stream as (fields, end_stream)."""

    def __init__(self, port, settings=(), handshake=True, timeout=5.0):
        self.port = port
        self.raw = RawFrames(port, timeout=timeout)
        self.raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.frames = []          # every frame received: (type, flags, sid, payload)
        self.blocks = {}          # sid -> [(fields, end_stream)]
        self.data = {}            # sid -> bytes
        self.data_frames = {}     # sid -> [flow-controlled length]
        self.ended = set()
        self.rst = {}
        self.goaway = None        # (last_stream_id, code, debug)
        self.server_settings = None
        self.settings_acks = 0
        self.pings = []           # (flags, payload)
        self.first_block_bytes = []  # raw header block fragments, in order
        self._block = None        # (sid, flags, bytes) of a header block being continued
        self.next_sid = 1
        if handshake:
            self.raw.send(PREFACE + settings_frame(settings))
            self.read(until=lambda: self.server_settings is not None)
            assert self.server_settings is not None, f"no server SETTINGS: {self.frames}"
            self.send(settings_frame(flags=ACK))

    # -- sending

    def send(self, data: bytes) -> bool:
        return self.raw.send(data)

    def sid(self) -> int:
        s = self.next_sid
        self.next_sid += 2
        return s

    def block(self, fields) -> bytes:
        return self.enc.encode(list(fields), huffman=False)

    def headers_frame(self, sid, fields, end_stream=False, flags=END_HEADERS) -> bytes:
        return frame(HEADERS, flags | (END_STREAM if end_stream else 0), sid, self.block(fields))

    def send_headers(self, sid, fields, end_stream=False):
        return self.send(self.headers_frame(sid, fields, end_stream))

    def request(self, path=HEALTH_PATH, token=None, extra=(), drop=(), body=None, sid=None) -> int:
        """HEADERS (and DATA with END_STREAM when `body` is given) for one gRPC call."""
        sid = sid or self.sid()
        fields = [f for f in req_fields(self.port, path, token) if f[0] not in drop] + list(extra)
        out = self.headers_frame(sid, fields, end_stream=False)
        if body is not None:
            out += frame(DATA, END_STREAM, sid, body)
        self.send(out)
        return sid

    # -- receiving

    def _process(self, f):
        self.frames.append(f)
        ftype, flags, sid, payload = f
        if ftype == HEADERS:
            pad = 0
            if flags & PADDED:
                pad, payload = payload[0], payload[1:]
            if flags & PRIORITY_FLAG:
                payload = payload[5:]
            payload = payload[:len(payload) - pad]
            if flags & END_HEADERS:
                self._header_block(sid, flags, payload)
            else:
                self._block = (sid, flags, payload)
        elif ftype == CONTINUATION and self._block is not None:
            bsid, bflags, buf = self._block
            buf += payload
            if flags & END_HEADERS:
                self._block = None
                self._header_block(bsid, bflags, buf)
            else:
                self._block = (bsid, bflags, buf)
        elif ftype == DATA:
            self.data_frames.setdefault(sid, []).append(len(payload))
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            self.data[sid] = self.data.get(sid, b"") + payload
            if flags & END_STREAM:
                self.ended.add(sid)
        elif ftype == RST_STREAM:
            self.rst[sid] = int.from_bytes(payload[:4], "big")
        elif ftype == GOAWAY:
            self.goaway = (int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                           int.from_bytes(payload[4:8], "big"), payload[8:])
        elif ftype == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
            else:
                self.server_settings = {int.from_bytes(payload[i:i + 2], "big"):
                                        int.from_bytes(payload[i + 2:i + 6], "big")
                                        for i in range(0, len(payload), 6)}
        elif ftype == PING:
            self.pings.append((flags, payload))

    def _header_block(self, sid, flags, block):
        self.first_block_bytes.append(block)
        fields = self.dec.decode(block, raw=True)
        self.blocks.setdefault(sid, []).append((fields, bool(flags & END_STREAM)))
        if flags & END_STREAM:
            self.ended.add(sid)

    def read(self, timeout=3.0, until=lambda: False):
        """Reads frames until `until()`, EOF or `timeout`. Returns until()."""
        if until():
            return True
        self.raw.read_frames(timeout, stop=lambda f: (self._process(f), until())[1])
        return until()

    @property
    def eof(self):
        return self.raw.closed

    def wait_stream(self, sid, timeout=3.0):
        return self.read(timeout, lambda: sid in self.ended or sid in self.rst
                         or self.goaway is not None)

    def settle(self, timeout=3.0):
        """Round-trips a PING, so everything sent before it has been processed by the server."""
        payload = struct.pack(">d", time.monotonic())
        self.send(frame(PING, 0, 0, payload))
        return self.read(timeout, lambda: (ACK, payload) in self.pings or self.goaway is not None)

    # -- results

    def fields(self, sid, index=0) -> list:
        return self.blocks.get(sid, [])[index][0] if len(self.blocks.get(sid, [])) > index else []

    def trailers(self, sid) -> dict:
        b = self.blocks.get(sid, [])
        return dict(b[-1][0]) if b else {}

    def grpc_status(self, sid):
        v = self.trailers(sid).get(b"grpc-status")
        return int(v) if v is not None else None

    def frames_on(self, sid):
        return [f for f in self.frames if f[2] == sid]

    def close(self):
        self.raw.close()

    # -- assertions

    def expect_connection_error(self, code, timeout=3.0):
        """RFC 9113 §5.4.1: GOAWAY with `code`, then the TCP connection is closed."""
        self.read(timeout, lambda: self.goaway is not None)
        assert self.goaway is not None, \
            f"no GOAWAY (eof={self.eof}); frames: {summary(self.frames)}"
        assert self.goaway[1] == code, f"GOAWAY code {self.goaway[1]}, expected {code}: {self.goaway}"
        self.read(timeout, lambda: False)
        assert self.eof, "connection still open after a connection error GOAWAY (§5.4.1 MUST close)"

    def expect_stream_error(self, sid, code, allow_connection_error=False, timeout=3.0):
        """RFC 9113 §5.4.2: RST_STREAM with `code` on `sid` (or, where allowed, GOAWAY with it)."""
        self.read(timeout, lambda: sid in self.rst or self.goaway is not None)
        if allow_connection_error and self.goaway is not None and sid not in self.rst:
            assert self.goaway[1] == code, f"GOAWAY {self.goaway}, expected code {code}"
            return "connection"
        assert sid in self.rst, (f"no RST_STREAM on stream {sid}; goaway={self.goaway}, "
                                 f"frames: {summary(self.frames)}")
        assert self.rst[sid] == code, f"RST_STREAM code {self.rst[sid]}, expected {code}"
        assert self.goaway is None, f"stream error escalated to GOAWAY {self.goaway}"
        return "stream"

    def assert_usable(self):
        """A health check on a new stream of this connection answers SERVING (grpc-status 0)."""
        sid = self.request(HEALTH_PATH, body=health_body())
        assert self.wait_stream(sid), f"no answer on stream {sid}: {summary(self.frames_on(sid))}"
        assert self.goaway is None, f"connection ended: {self.goaway}"
        assert self.grpc_status(sid) == 0, (self.blocks.get(sid), self.rst.get(sid))
        assert self.data[sid][5:] == b"\x08\x01"


NAMES = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY", RST_STREAM: "RST_STREAM",
         SETTINGS: "SETTINGS", PUSH_PROMISE: "PUSH_PROMISE", PING: "PING", GOAWAY: "GOAWAY",
         WINDOW_UPDATE: "WINDOW_UPDATE", CONTINUATION: "CONTINUATION"}


def summary(frames):
    out = []
    for t, fl, sid, p in frames[:40]:
        s = f"{NAMES.get(t, t)}(s={sid},f={fl:#x},len={len(p)}"
        if t in (RST_STREAM, WINDOW_UPDATE):
            s += f",v={int.from_bytes(p[:4], 'big')}"
        if t == GOAWAY:
            s += f",last={int.from_bytes(p[:4], 'big')},code={int.from_bytes(p[4:8], 'big')},dbg={p[8:]!r}"
        out.append(s + ")")
    return ", ".join(out) + (" ..." if len(frames) > 40 else "")


def req_fields(port, path=HEALTH_PATH, token=None):
    h = [(":method", "POST"), (":scheme", "http"), (":path", path),
         (":authority", f"127.0.0.1:{port}"), ("content-type", "application/grpc"),
         ("te", "trailers")]
    if token:
        h.append(("authorization", f"Bearer {token}"))
    return h


@pytest.fixture(scope="module")
def token():
    return mint("oid-rfc9113", [GLOBAL_ADMIN])


@pytest.fixture
def conn(server):
    """Factory of handshaken connections to the module's server; all closed at teardown."""
    made = []

    def make(**kw):
        c = Conn(server.port, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
    assert server.alive(), f"server died:\n{server.log()}"


# ------------------------------------------------------------------ §3.4 connection preface


def test_server_preface_is_a_settings_frame_first(server):
    """§3.4: the server connection preface is a SETTINGS frame that MUST be the first frame the
    server sends. §6.5.2: a server MUST NOT send SETTINGS_ENABLE_PUSH other than 0, and its
    values must be valid (initial window ≤ 2^31-1, 2^14 ≤ max frame size ≤ 2^24-1)."""
    c = Conn(server.port, handshake=False)
    try:
        c.send(PREFACE + settings_frame())
        c.read(until=lambda: len(c.frames) >= 1)
        assert c.frames, "server sent nothing"
        t, fl, sid, _ = c.frames[0]
        assert (t, fl & ACK, sid) == (SETTINGS, 0, 0), summary(c.frames)
        s = c.server_settings
        assert s.get(ENABLE_PUSH, 0) == 0, s
        assert s.get(INITIAL_WINDOW_SIZE, 65535) <= MAX_WINDOW, s
        assert 16384 <= s.get(MAX_FRAME_SIZE, 16384) <= 2**24 - 1, s
    finally:
        c.close()


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nXM\r\n\r\n",
    b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n",
], ids=["http1", "bad-magic-tail", "bad-magic-version"])
def test_invalid_preface_is_a_connection_error(server, garbage):
    """§3.4: an invalid connection preface MUST be treated as a connection error of type
    PROTOCOL_ERROR; the GOAWAY MAY be omitted. The connection must be closed."""
    c = Conn(server.port, handshake=False)
    try:
        c.send(garbage + settings_frame())
        c.read(3, lambda: False)
        assert c.eof, f"connection not closed; frames: {summary(c.frames)}"
        if c.goaway is not None:
            assert c.goaway[1] == PROTOCOL_ERROR, c.goaway
    finally:
        c.close()


def test_preface_not_followed_by_settings_is_a_connection_error(server):
    """§3.4: the client preface (magic) MUST be followed by a SETTINGS frame; anything else is a
    connection error of type PROTOCOL_ERROR."""
    c = Conn(server.port, handshake=False)
    try:
        c.send(PREFACE + frame(PING, 0, 0, b"12345678"))
        c.expect_connection_error(PROTOCOL_ERROR)
    finally:
        c.close()


# ------------------------------------------------------------------ §6.5 SETTINGS


def test_settings_are_acknowledged(conn):
    """§6.5.3: upon receiving a SETTINGS frame without ACK the recipient MUST immediately emit a
    SETTINGS frame with the ACK flag set (for the preface SETTINGS and for later ones)."""
    c = conn()
    assert c.read(until=lambda: c.settings_acks >= 1), summary(c.frames)
    c.send(settings_frame([(MAX_CONCURRENT_STREAMS, 100)]))
    assert c.read(until=lambda: c.settings_acks >= 2), summary(c.frames)


def test_unknown_setting_is_ignored(conn):
    """§6.5.2: an endpoint that receives a SETTINGS frame with any unknown or unsupported
    identifier MUST ignore that setting."""
    c = conn()
    c.send(settings_frame([(0x7A7A, 12345), (0xFF01, 0)]))
    assert c.read(until=lambda: c.settings_acks >= 2)
    c.assert_usable()


@pytest.mark.parametrize("pairs,code", [
    ([(ENABLE_PUSH, 2)], PROTOCOL_ERROR),
    ([(INITIAL_WINDOW_SIZE, 2**31)], FLOW_CONTROL_ERROR),
    ([(MAX_FRAME_SIZE, 16383)], PROTOCOL_ERROR),
    ([(MAX_FRAME_SIZE, 2**24)], PROTOCOL_ERROR),
], ids=["enable-push-2", "initial-window-2^31", "max-frame-16383", "max-frame-2^24"])
def test_invalid_setting_value_is_a_connection_error(conn, pairs, code):
    """§6.5.2: ENABLE_PUSH other than 0/1 → PROTOCOL_ERROR; INITIAL_WINDOW_SIZE above 2^31-1 →
    FLOW_CONTROL_ERROR; MAX_FRAME_SIZE outside 2^14..2^24-1 → PROTOCOL_ERROR (connection
    errors)."""
    c = conn()
    c.send(settings_frame(pairs))
    c.expect_connection_error(code)


def test_settings_on_a_stream_is_a_connection_error(conn):
    """§6.5: a SETTINGS frame whose stream identifier is not 0x00 MUST be treated as a connection
    error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(settings_frame([(MAX_CONCURRENT_STREAMS, 10)], sid=1))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_settings_length_not_multiple_of_6_is_frame_size_error(conn):
    """§6.5: a SETTINGS frame with a length other than a multiple of 6 octets MUST be treated as
    a connection error of type FRAME_SIZE_ERROR."""
    c = conn()
    c.send(frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00"))
    c.expect_connection_error(FRAME_SIZE_ERROR)


def test_settings_ack_with_payload_is_frame_size_error(conn):
    """§6.5: receipt of a SETTINGS frame with the ACK flag set and a length field value other
    than 0 MUST be treated as a connection error of type FRAME_SIZE_ERROR."""
    c = conn()
    c.send(settings_frame([(MAX_CONCURRENT_STREAMS, 10)], flags=ACK))
    c.expect_connection_error(FRAME_SIZE_ERROR)


# ------------------------------------------------------------------ §6.7 PING, keepalive


def test_ping_is_answered_with_the_same_payload(conn):
    """§6.7: receivers of a PING frame that does not include an ACK flag MUST send a PING frame
    with the ACK flag set in response, with an identical frame payload."""
    c = conn()
    c.send(frame(PING, 0, 0, b"\x01\x02\x03\x04\xfa\xfb\xfc\xfd"))
    assert c.read(until=lambda: c.pings), summary(c.frames)
    assert c.pings == [(ACK, b"\x01\x02\x03\x04\xfa\xfb\xfc\xfd")]


def test_ping_with_unknown_flags_is_still_answered(conn):
    """§4.1: flags that have no defined semantics for a frame type MUST be ignored — a PING with
    every flag but ACK set is an ordinary PING and MUST be acknowledged (§6.7)."""
    c = conn()
    c.send(frame(PING, 0xFE, 0, b"flagsflg"))
    assert c.read(until=lambda: c.pings), summary(c.frames)
    assert c.pings[0][1] == b"flagsflg" and c.pings[0][0] & ACK


def test_ping_ack_is_not_answered(conn):
    """§6.7: an endpoint MUST NOT respond to PING frames containing the ACK flag."""
    c = conn()
    c.send(frame(PING, ACK, 0, b"unsolici"))
    c.settle()
    assert (ACK, b"unsolici") not in c.pings and (0, b"unsolici") not in c.pings, c.pings
    assert c.goaway is None


def test_ping_on_a_stream_is_a_connection_error(conn):
    """§6.7: if a PING frame is received with a stream identifier other than 0x00, the recipient
    MUST respond with a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(frame(PING, 0, 1, b"12345678"))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_ping_of_wrong_length_is_frame_size_error(conn):
    """§6.7: receipt of a PING frame with a length field value other than 8 MUST be treated as a
    connection error of type FRAME_SIZE_ERROR."""
    c = conn()
    c.send(frame(PING, 0, 0, b"1234567"))
    c.expect_connection_error(FRAME_SIZE_ERROR)


@pytest.mark.slow
def test_keepalive_pings_every_second_do_not_end_the_connection(conn, token):
    """§6.7 / gRPC PROTOCOL-HTTP2 (keepalive): PINGs at a client keepalive cadence (here 1 s for
    11 s, far more often than grpc-go's 10 s minimum) MUST each be ACKed and MUST NOT cause a
    GOAWAY, on an idle connection and on one with a call open; the open call then completes."""
    idle, busy = conn(), conn()
    sid = busy.request(LIST_PATH, token=token)  # call open: body not sent yet
    for i in range(11):
        payload = struct.pack(">Q", i)
        for c in (idle, busy):
            c.send(frame(PING, 0, 0, payload))
        for c in (idle, busy):
            assert c.read(2, lambda: (ACK, payload) in c.pings or c.goaway is not None), i
            assert c.goaway is None and not c.eof, f"ping {i}: {c.goaway}"
        time.sleep(0.9)
    assert not [p for p in idle.pings if not p[0] & ACK], "server PINGed an idle connection"
    busy.send(frame(DATA, END_STREAM, sid, list_body(page_size=2)))
    assert busy.wait_stream(sid)
    assert busy.grpc_status(sid) == 0, busy.blocks.get(sid)
    idle.assert_usable()


def test_ping_flood_is_enhance_your_calm(conn):
    """§10.5 (denial of service: an endpoint MAY treat excessive PINGs as a connection error) and
    CONTRACT §1: a burst of PINGs well past any keepalive rate ends the connection with GOAWAY
    ENHANCE_YOUR_CALM (§7)."""
    c = conn()
    c.send(frame(PING, 0, 0, b"floodflo") * 600)
    c.expect_connection_error(ENHANCE_YOUR_CALM, timeout=5)


@pytest.mark.parametrize("kind", ["priority", "window-update", "empty-data", "padded-empty-data",
                                  "ping-ack"])
def test_flood_of_frames_that_do_no_work_is_enhance_your_calm(conn, server, token, kind):
    """§10.5 (an endpoint MAY treat frames that do no work, such as PRIORITY, WINDOW_UPDATE, empty
    DATA or unsolicited PING ACKs, sent in excess as a connection error): 3,000 of one kind in a
    burst end the connection with GOAWAY ENHANCE_YOUR_CALM (§7), and the server says why."""
    c = conn()
    sid = c.request(LIST_PATH, token=token)  # an open stream for the DATA kinds
    one = {
        "priority": frame(PRIORITY, 0, sid + 2, struct.pack(">IB", 0, 15)),
        "window-update": window_update(0, 1),
        "empty-data": frame(DATA, 0, sid, b""),
        "padded-empty-data": frame(DATA, PADDED, sid, b"\x03" + b"\x00" * 3),
        "ping-ack": frame(PING, ACK, 0, b"unasked!"),
    }[kind]
    c.send(one * 3000)
    c.expect_connection_error(ENHANCE_YOUR_CALM, timeout=5)
    name = {"priority": "PRIORITY", "window-update": "WINDOW_UPDATE", "empty-data": "empty DATA",
            "padded-empty-data": "empty DATA", "ping-ack": "PING/SETTINGS ACK"}[kind]
    deadline = time.monotonic() + 3
    while f"closing connection: a flood of {name} frames" not in server.log():
        assert time.monotonic() < deadline, server.log()[-2000:]
        time.sleep(0.05)


def test_window_updates_answering_each_data_frame_are_not_a_flood(conn, token):
    """The flood guard must not catch a receiver that acknowledges every DATA frame with a stream
    and a connection WINDOW_UPDATE (some clients do): with a 128-byte stream window, 40 pages of
    50 come as over a thousand DATA frames, answered by twice as many WINDOW_UPDATEs, more than
    the guard's burst; each DATA frame the server sends earns the peer two."""
    c = conn(settings=[(INITIAL_WINDOW_SIZE, 128)])
    updates = 0
    seen = 0
    for i in range(40):
        sid = c.request(LIST_PATH, token=token, body=list_body(page_size=50))

        def acknowledge():
            nonlocal seen, updates
            for f in c.frames[seen:]:
                if f[0] == DATA and f[3]:
                    c.send(window_update(f[2], len(f[3])) + window_update(0, len(f[3])))
                    updates += 2
            seen = len(c.frames)
            return sid in c.ended or sid in c.rst or c.goaway is not None

        assert c.read(5, acknowledge), f"call {i}: {summary(c.frames_on(sid))}"
        assert c.goaway is None, f"call {i}: GOAWAY {c.goaway} after {updates} WINDOW_UPDATEs"
        assert c.grpc_status(sid) == 0, (i, c.blocks.get(sid), c.rst.get(sid))
    assert updates > 1500, updates
    c.assert_usable()


def test_protocol_error_is_named_in_the_log(conn, server):
    """A connection nghttp2 ends over a protocol error gets a notice in nghttp2's words (its
    GOAWAY debug data), not a debug line nobody sees."""
    c = conn()
    c.send(frame(DATA, 0, 0, b"hello"))
    c.expect_connection_error(PROTOCOL_ERROR)
    deadline = time.monotonic() + 3
    while "closing connection: DATA: stream_id == 0 (GOAWAY PROTOCOL_ERROR)" not in server.log():
        assert time.monotonic() < deadline, server.log()[-2000:]
        time.sleep(0.05)


def test_headers_flood_on_closed_streams_is_enhance_your_calm(conn, token):
    """HEADERS on a stream closed long ago (nghttp2 keeps about 256 closed streams, and answers
    HEADERS on those STREAM_CLOSED) are decoded by nghttp2 and dropped: work for nothing, counted
    like the frames above."""
    c = conn()
    sids = []
    for _ in range(3):  # in batches under the 256 concurrent streams
        batch = [c.sid() for _ in range(100)]
        c.send(b"".join(c.headers_frame(sid, req_fields(c.port)) + frame(DATA, END_STREAM, sid, health_body())
                        for sid in batch))
        assert c.read(10, lambda: all(sid in c.ended for sid in batch)), summary(c.frames[-10:])
        sids += batch
    assert all(c.grpc_status(sid) == 0 for sid in sids)
    block = c.headers_frame(sids[0], [("x-after", "close")], end_stream=True)
    c.send(block * 3000)
    c.expect_connection_error(ENHANCE_YOUR_CALM, timeout=5)


def test_http1_request_to_the_grpc_port_is_named_in_the_log(server):
    """An operator whose proxy speaks HTTP/1.1 upstream (nginx proxy_pass instead of grpc_pass)
    reads in the server log what arrived, not only that the connection closed."""
    c = Conn(server.port, handshake=False)
    try:
        c.send(b"POST /entitlement.v1.AccessRequests/ListRequests HTTP/1.1\r\nHost: x\r\n\r\n")
        c.read(3, lambda: False)
        assert c.eof
    finally:
        c.close()
    expected = ('the client sent an HTTP/1.x request ("POST /entitlement.v1.AccessRequests/ListRequests '
                'HTTP/1.1"), not HTTP/2')
    deadline = time.monotonic() + 3
    while expected not in server.log():
        assert time.monotonic() < deadline, server.log()[-2000:]
        time.sleep(0.05)


# ------------------------------------------------------------------ §5.1, §6.x stream ids


def test_headers_on_stream_0_is_a_connection_error(conn):
    """§6.2: if a HEADERS frame is received whose Stream Identifier field is 0x00, the recipient
    MUST respond with a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(c.headers_frame(0, req_fields(c.port), end_stream=True))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_data_on_stream_0_is_a_connection_error(conn):
    """§6.1: if a DATA frame is received whose Stream Identifier field is 0x00, the recipient
    MUST respond with a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(frame(DATA, 0, 0, b"hello"))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_even_client_stream_id_is_a_connection_error(conn):
    """§5.1.1: streams initiated by a client MUST use odd-numbered stream identifiers; an
    unexpected stream identifier MUST get a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(c.headers_frame(2, req_fields(c.port)) + frame(DATA, END_STREAM, 2, health_body()))
    c.expect_connection_error(PROTOCOL_ERROR)


@pytest.mark.parametrize("order,codes", [
    pytest.param((5, 3), {PROTOCOL_ERROR}, id="lower-unused-id"),
    # a reused id names a closed stream: §5.1 (closed) also allows STREAM_CLOSED
    pytest.param((1, 1), {PROTOCOL_ERROR, STREAM_CLOSED}, id="reused-closed-id"),
])
def test_decreasing_stream_id_is_a_connection_error(conn, order, codes):
    """§5.1.1: the identifier of a newly established stream MUST be numerically greater than all
    streams that the initiating endpoint has opened; an endpoint that receives an unexpected
    stream identifier MUST respond with a connection error of type PROTOCOL_ERROR."""
    first, second = order
    c = conn()
    c.request(sid=first, body=health_body())
    assert c.wait_stream(first) and c.grpc_status(first) == 0
    c.request(sid=second, body=health_body())
    c.settle()
    c.read(0.5, lambda: c.goaway is not None)
    assert c.goaway is not None, f"request on stream {second} after {first}: {summary(c.frames)}"
    assert c.goaway[1] in codes, c.goaway
    c.read(2)
    assert c.eof


def test_data_on_closed_stream_is_stream_closed(conn):
    """§6.1: a DATA frame received on a stream that is not "open" or "half-closed (local)" MUST
    get a stream error of type STREAM_CLOSED; §5.1 (closed) allows a connection error
    STREAM_CLOSED. Here the stream was closed normally (END_STREAM both ways)."""
    c = conn()
    sid = c.request(body=health_body())
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0
    c.send(frame(DATA, END_STREAM, sid, health_body()))
    c.expect_stream_error(sid, STREAM_CLOSED, allow_connection_error=True)


def test_data_on_idle_stream_is_a_connection_error(conn):
    """§5.1 (idle): receiving any frame other than HEADERS or PRIORITY on a stream in this state
    MUST be treated as a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(frame(DATA, END_STREAM, 1, health_body()))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_window_update_on_idle_stream_is_a_connection_error(conn):
    """§5.1 (idle): a WINDOW_UPDATE on an idle stream MUST be treated as a connection error of
    type PROTOCOL_ERROR."""
    c = conn()
    c.send(window_update(5, 100))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_rst_stream_on_idle_stream_is_a_connection_error(conn):
    """§6.4: if a RST_STREAM frame identifying an idle stream is received, the recipient MUST
    treat this as a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(rst_stream(7, CANCEL))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_rst_stream_on_stream_0_is_a_connection_error(conn):
    """§6.4: if a RST_STREAM frame is received with a stream identifier of 0x00, the recipient
    MUST treat this as a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(rst_stream(0, CANCEL))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_rst_stream_of_wrong_length_is_frame_size_error(conn):
    """§6.4: a RST_STREAM frame with a length other than 4 octets MUST be treated as a connection
    error of type FRAME_SIZE_ERROR."""
    c = conn()
    sid = c.request()
    c.send(frame(RST_STREAM, 0, sid, b"\x00\x00\x08"))
    c.expect_connection_error(FRAME_SIZE_ERROR)


def test_priority_on_idle_stream_is_allowed(conn):
    """§5.1 (idle) / §6.3: PRIORITY frames may be sent on idle streams and MUST NOT be treated as
    an error (the stream can then be opened normally)."""
    c = conn()
    c.send(frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 16)))
    c.send(frame(PRIORITY, 0, 9, struct.pack(">IB", 1, 16)))
    c.assert_usable()


def test_priority_on_stream_0_is_a_connection_error(conn):
    """§6.3: if a PRIORITY frame is received with a stream identifier of 0x00, the recipient MUST
    respond with a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(frame(PRIORITY, 0, 0, struct.pack(">IB", 0, 16)))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_priority_of_wrong_length_is_frame_size_error(conn):
    """§6.3: a PRIORITY frame with a length other than 5 octets MUST be treated as a stream error
    of type FRAME_SIZE_ERROR (a connection error is also allowed, §5.4.1)."""
    c = conn()
    c.send(frame(PRIORITY, 0, 3, b"\x00\x00\x00\x00"))
    c.expect_stream_error(3, FRAME_SIZE_ERROR, allow_connection_error=True)


def test_stream_depending_on_itself_is_an_error(conn):
    """§5.3.1: a stream cannot depend on itself; an endpoint MUST treat this as a stream error of
    type PROTOCOL_ERROR (here via the HEADERS PRIORITY flag; a connection error is allowed)."""
    c = conn()
    payload = struct.pack(">IB", 1, 16) + c.block(req_fields(c.port))
    c.send(frame(HEADERS, END_HEADERS | PRIORITY_FLAG, 1, payload))
    c.expect_stream_error(1, PROTOCOL_ERROR, allow_connection_error=True)


def test_goaway_on_a_stream_is_a_connection_error(conn):
    """§6.8: an endpoint MUST treat a GOAWAY frame with a stream identifier other than 0x00 as a
    connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0)))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_push_promise_from_client_is_a_connection_error(conn):
    """§8.4: a client cannot push; servers MUST treat the receipt of a PUSH_PROMISE frame as a
    connection error of type PROTOCOL_ERROR."""
    c = conn()
    sid = c.request()
    c.send(frame(PUSH_PROMISE, END_HEADERS, sid, struct.pack(">I", 2) + c.block(req_fields(c.port))))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_unknown_frame_types_are_ignored(conn):
    """§4.1 / §5.5: implementations MUST ignore and discard frames of unknown types (on stream 0,
    on an idle stream, and between the frames of a request)."""
    c = conn()
    c.send(frame(0xFA, 0xFF, 0, b"whatever") + frame(0x0B, 0, 3, b"\x00" * 10))
    sid = c.request()
    c.send(frame(0xFB, 0, sid, b"zz") + frame(DATA, END_STREAM, sid, health_body()))
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0, summary(c.frames)
    c.assert_usable()


def test_reserved_stream_id_bit_is_ignored(conn):
    """§4.1: the reserved 1-bit field of the stream identifier MUST be ignored when receiving."""
    c = conn()
    block = c.block(req_fields(c.port))
    c.send(raw_header(len(block), HEADERS, END_HEADERS, 0x80000001) + block +
           raw_header(len(health_body()), DATA, END_STREAM, 0x80000001) + health_body())
    assert c.wait_stream(1) and c.grpc_status(1) == 0, summary(c.frames)
    c.next_sid = 3
    c.assert_usable()


# ------------------------------------------------------------------ §5.1 half-closed / closed


def test_data_after_end_stream_is_stream_closed(conn):
    """§5.1 (half-closed (remote)) / §6.1: DATA received on a stream whose peer already sent
    END_STREAM MUST be answered with a stream error (or connection error) of type STREAM_CLOSED.
    The response is held back by a zero flow-control window so the stream stays half-closed."""
    c = conn(settings=[(INITIAL_WINDOW_SIZE, 0)])
    sid = c.request(body=health_body())
    c.settle()
    c.send(frame(DATA, 0, sid, health_body()))
    c.expect_stream_error(sid, STREAM_CLOSED, allow_connection_error=True)


def test_headers_after_end_stream_is_stream_closed(conn):
    """§5.1 (half-closed (remote)): a HEADERS frame after END_STREAM MUST get a stream error (or
    connection error) of type STREAM_CLOSED."""
    c = conn(settings=[(INITIAL_WINDOW_SIZE, 0)])
    sid = c.request(body=health_body())
    c.settle()
    c.send(c.headers_frame(sid, [("x-late", "1")], end_stream=True))
    c.expect_stream_error(sid, STREAM_CLOSED, allow_connection_error=True)


def test_window_update_and_rst_after_stream_closed_are_tolerated(conn):
    """§5.1 (closed): an endpoint that sends END_STREAM might receive a WINDOW_UPDATE or
    RST_STREAM from its peer afterwards; these MUST NOT break the connection."""
    c = conn()
    sid = c.request(body=health_body())
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0
    c.send(window_update(sid, 1000) + rst_stream(sid, CANCEL))
    c.settle()
    assert c.goaway is None, c.goaway
    c.assert_usable()


def test_frames_after_server_reset_are_ignored(conn):
    """§5.1 (closed): an endpoint MUST ignore frames that it receives on closed streams after it
    has sent a RST_STREAM frame (here DATA the client sent before it saw the reset of its
    malformed request) — the connection keeps working."""
    c = conn()
    sid = c.sid()
    c.send(c.headers_frame(sid, req_fields(c.port) + [("Bad-Upper", "x")]) +
           frame(DATA, 0, sid, health_body()) + frame(DATA, END_STREAM, sid, b""))
    c.expect_stream_error(sid, PROTOCOL_ERROR)
    c.send(frame(DATA, END_STREAM, sid, b""))  # later still: also ignored
    c.settle()
    assert c.goaway is None, c.goaway
    c.assert_usable()


# ------------------------------------------------------------------ §4.2 frame size


def test_data_larger_than_max_frame_size_is_frame_size_error(conn):
    """§4.2: an endpoint MUST send an error code of FRAME_SIZE_ERROR if a frame exceeds the size
    defined in SETTINGS_MAX_FRAME_SIZE (stream or connection error for DATA)."""
    c = conn()
    assert c.server_settings.get(MAX_FRAME_SIZE, DEFAULT_FRAME) == DEFAULT_FRAME
    sid = c.request()
    c.send(raw_header(DEFAULT_FRAME + 1, DATA, 0, sid) + b"\x00" * 64)  # declared length is enough
    c.expect_stream_error(sid, FRAME_SIZE_ERROR, allow_connection_error=True)


def test_headers_larger_than_max_frame_size_is_a_connection_error(conn):
    """§4.2: a frame size error in a frame that could alter the state of the entire connection
    (any frame carrying a field block) MUST be treated as a connection error FRAME_SIZE_ERROR."""
    c = conn()
    c.send(raw_header(DEFAULT_FRAME + 1, HEADERS, END_HEADERS, 1) + b"\x00" * 64)
    c.expect_connection_error(FRAME_SIZE_ERROR)


def test_data_of_exactly_max_frame_size_is_accepted(conn):
    """§4.2: an endpoint MUST be capable of receiving frames up to 2^14 octets (its advertised
    SETTINGS_MAX_FRAME_SIZE); a 16384-byte DATA frame is processed normally."""
    c = conn()
    from helpers import health_pb
    msg = health_pb.HealthCheckRequest(service="s" * (DEFAULT_FRAME - 5 - 3)).SerializeToString()
    body = bytes([0]) + struct.pack(">I", len(msg)) + msg
    assert len(body) == DEFAULT_FRAME
    sid = c.request()
    c.send(frame(DATA, END_STREAM, sid, body))
    assert c.wait_stream(sid), summary(c.frames)
    assert c.grpc_status(sid) == 5, c.blocks.get(sid)  # NOT_FOUND: unknown service name
    c.assert_usable()


def test_window_update_of_wrong_length_is_frame_size_error(conn):
    """§6.9: a WINDOW_UPDATE frame with a length other than 4 octets MUST be treated as a
    connection error of type FRAME_SIZE_ERROR."""
    c = conn()
    c.send(frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"))
    c.expect_connection_error(FRAME_SIZE_ERROR)


# ------------------------------------------------------------------ §4.3, §6.2, §6.10 field blocks


def test_headers_with_continuation_frames_work(conn):
    """§6.10 / §4.3: a field block may be split across HEADERS and any number of CONTINUATION
    frames (END_HEADERS on the last); the request is then processed normally."""
    c = conn()
    sid = c.sid()
    block = c.block(req_fields(c.port) + [("x-pad", "p" * 300)])
    parts = [block[:40], block[40:120], block[120:]]
    c.send(frame(HEADERS, 0, sid, parts[0]) + frame(CONTINUATION, 0, sid, parts[1]) +
           frame(CONTINUATION, END_HEADERS, sid, parts[2]) +
           frame(DATA, END_STREAM, sid, health_body()))
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0, summary(c.frames)


def test_frame_interleaved_in_a_field_block_is_a_connection_error(conn):
    """§4.3 / §6.2: a field block MUST be a contiguous sequence of frames with no interleaved
    frames of any other type or stream; receipt of any other frame MUST be treated as a
    connection error of type PROTOCOL_ERROR."""
    c = conn()
    block = c.block(req_fields(c.port))
    c.send(frame(HEADERS, 0, 1, block[:20]) + frame(PING, 0, 0, b"inbetwee") +
           frame(CONTINUATION, END_HEADERS, 1, block[20:]))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_continuation_of_another_stream_is_a_connection_error(conn):
    """§6.10: a CONTINUATION frame MUST follow a HEADERS/CONTINUATION of the same stream without
    END_HEADERS; otherwise a connection error of type PROTOCOL_ERROR."""
    c = conn()
    block = c.block(req_fields(c.port))
    c.send(frame(HEADERS, 0, 1, block[:20]) + frame(CONTINUATION, END_HEADERS, 3, block[20:]))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_continuation_without_headers_is_a_connection_error(conn):
    """§6.10: a CONTINUATION frame that does not follow a HEADERS, PUSH_PROMISE or CONTINUATION
    frame without END_HEADERS MUST be treated as a connection error of type PROTOCOL_ERROR."""
    c = conn()
    sid = c.request(body=health_body())
    assert c.wait_stream(sid)
    c.send(frame(CONTINUATION, END_HEADERS, sid, c.block([("x-a", "b")])))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_hpack_decoding_error_is_compression_error(conn):
    """§4.3: a decoding error in a field block MUST be treated as a connection error of type
    COMPRESSION_ERROR (index 0 is invalid, RFC 7541 §6.1)."""
    c = conn()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x80"))
    c.expect_connection_error(COMPRESSION_ERROR)


def test_table_size_update_above_setting_is_compression_error(conn):
    """§4.3 with RFC 7541 §6.3: a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE
    (4096 by default) is a decoding error → connection error COMPRESSION_ERROR."""
    c = conn()
    assert c.server_settings.get(HEADER_TABLE_SIZE, 4096) == 4096
    update = b"\x3f" + bytes([0xE1, 0xFF, 0x03])  # size update to 65535 (5-bit prefix int)
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, update + c.block(req_fields(c.port))))
    c.expect_connection_error(COMPRESSION_ERROR)


def test_padded_request_frames_work(conn):
    """§6.1 / §6.2: HEADERS and DATA with the PADDED flag carry a Pad Length and padding that the
    receiver MUST strip (padding is also flow-controlled); the request is processed normally."""
    c = conn()
    block = c.block(req_fields(c.port))
    body = health_body()
    c.send(frame(HEADERS, END_HEADERS | PADDED, 1, bytes([7]) + block + b"\x00" * 7) +
           frame(DATA, END_STREAM | PADDED, 1, bytes([20]) + body + b"\x00" * 20))
    assert c.wait_stream(1) and c.grpc_status(1) == 0, summary(c.frames)
    assert c.data[1][5:] == b"\x08\x01"


@pytest.mark.parametrize("ftype", [HEADERS, DATA], ids=["HEADERS", "DATA"])
def test_padding_longer_than_payload_is_a_connection_error(conn, ftype):
    """§6.1 / §6.2: if the length of the padding is the length of the frame payload or greater,
    the recipient MUST treat this as a connection error of type PROTOCOL_ERROR."""
    c = conn()
    if ftype == HEADERS:
        block = c.block(req_fields(c.port))
        c.send(frame(HEADERS, END_HEADERS | PADDED, 1, bytes([len(block) + 1]) + block))
    else:
        sid = c.request()
        c.send(frame(DATA, END_STREAM | PADDED, sid, bytes([10]) + b"\x00" * 5))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_hpack_state_survives_a_reset_stream(conn):
    """§4.3: a receiver MUST process every field block to keep its decompression state, even for
    a stream it resets. Headers indexed in a malformed (reset) request are referenced from the
    dynamic table by the next request on the connection, which must then work."""
    c = conn()
    sid = c.sid()
    fields = req_fields(c.port) + [("x-indexed-only-here", "v" * 40), ("Upper-Case", "1")]
    c.send(c.headers_frame(sid, fields, end_stream=True))
    c.expect_stream_error(sid, PROTOCOL_ERROR)
    sid = c.sid()
    c.send(c.headers_frame(sid, req_fields(c.port) + [("x-indexed-only-here", "v" * 40)]) +
           frame(DATA, END_STREAM, sid, health_body()))
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0, (c.goaway, summary(c.frames))


# ------------------------------------------------------------------ §8.2, §8.3 malformed requests

def _base(port):
    return req_fields(port)


def _without(name):
    return lambda p: [f for f in _base(p) if f[0] != name]


MALFORMED = {
    # §8.2: field names MUST be lowercase
    "uppercase-name": (lambda p: _base(p) + [("X-Upper", "1")], None),
    "uppercase-pseudo": (lambda p: [(":Path" if k == ":path" else k, v) for k, v in _base(p)], None),
    # §8.2.2: connection-specific fields
    "connection": (lambda p: _base(p) + [("connection", "keep-alive")], None),
    "keep-alive": (lambda p: _base(p) + [("keep-alive", "timeout=5")], None),
    "proxy-connection": (lambda p: _base(p) + [("proxy-connection", "keep-alive")], None),
    "transfer-encoding": (lambda p: _base(p) + [("transfer-encoding", "chunked")], None),
    "upgrade": (lambda p: _base(p) + [("upgrade", "h2c")], None),
    "te-not-trailers": (lambda p: [f for f in _base(p) if f[0] != "te"] + [("te", "gzip")], None),
    # §8.3: pseudo-header rules
    "pseudo-after-regular": (lambda p: [f for f in _base(p) if f[0] != ":authority"] +
                             [(":authority", f"127.0.0.1:{p}")], None),
    "missing-method": (_without(":method"), None),
    "missing-scheme": (_without(":scheme"), None),
    "missing-path": (_without(":path"), None),
    "empty-path": (lambda p: [(k, "" if k == ":path" else v) for k, v in _base(p)], None),
    "duplicate-path": (lambda p: [_base(p)[0], (":path", HEALTH_PATH)] + _base(p)[1:], None),
    "duplicate-method": (lambda p: [(":method", "POST")] + _base(p), None),
    "unknown-pseudo": (lambda p: [(":foo", "bar")] + _base(p), None),
    "response-pseudo-in-request": (lambda p: [(":status", "200")] + _base(p), None),
    # §8.1: trailers
    "pseudo-in-trailers": (_base, [(":path", "/x")]),
    # §8.2.1: field name / value characters
    "name-with-space": (lambda p: _base(p) + [("x bad", "1")], None),
    "name-with-colon": (lambda p: _base(p) + [("x:bad", "1")], None),
    "name-non-ascii": (lambda p: _base(p) + [(b"x-\xc3\xa9", b"1")], None),
    "empty-name": (lambda p: _base(p) + [("", "1")], None),
    "value-with-nul": (lambda p: _base(p) + [("x-v", b"a\x00b")], None),
    "value-with-cr": (lambda p: _base(p) + [("x-v", b"a\rb")], None),
    "value-with-lf": (lambda p: _base(p) + [("x-v", b"a\nb")], None),
    "value-leading-space": (lambda p: _base(p) + [("x-v", " a")], None),
    "value-trailing-tab": (lambda p: _base(p) + [("x-v", "a\t")], None),
}



@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_request_is_a_stream_error(conn, case):
    """§8.1.1: malformed requests MUST be treated as a stream error of type PROTOCOL_ERROR —
    §8.2 (uppercase names), §8.2.1 (name/value characters), §8.2.2 (connection-specific
    fields; TE other than "trailers"), §8.3 (pseudo-headers after regular fields, missing
    :method/:scheme/:path, empty :path, duplicated, unknown or response pseudo-headers),
    §8.1 (pseudo-headers in trailers). The request must not be processed, and the connection
    keeps working (it is a stream error, and the HPACK state is kept)."""
    make_headers, trailers = MALFORMED[case]
    c = conn()
    sid = c.sid()
    out = c.headers_frame(sid, make_headers(c.port))
    if trailers is None:
        out += frame(DATA, END_STREAM, sid, health_body())
    else:
        out += frame(DATA, 0, sid, health_body()) + c.headers_frame(sid, trailers, end_stream=True)
    c.send(out)
    c.expect_stream_error(sid, PROTOCOL_ERROR)
    assert sid not in c.data, f"malformed request was processed: {c.blocks.get(sid)}"
    assert c.grpc_status(sid) is None, f"malformed request was answered: {c.blocks.get(sid)}"
    c.assert_usable()


def test_te_trailers_is_accepted(conn):
    """§8.2.2: the only exception to the connection-specific rule is TE, which MAY be present
    with the value "trailers" — such a request is processed normally."""
    c = conn()
    sid = c.request(body=health_body())
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0


def test_trailers_without_end_stream_are_malformed(conn):
    """§8.1: a HEADERS frame (trailers) without END_STREAM after the request's HEADERS makes the
    request malformed (§8.1.1): stream error PROTOCOL_ERROR."""
    c = conn()
    sid = c.sid()
    c.send(c.headers_frame(sid, req_fields(c.port)) + frame(DATA, 0, sid, health_body()) +
           c.headers_frame(sid, [("x-trailer", "1")], end_stream=False))
    c.expect_stream_error(sid, PROTOCOL_ERROR)
    c.assert_usable()


def test_request_trailers_are_accepted(conn):
    """§8.1: a request may end with a trailer section (HEADERS with END_STREAM after DATA); it is
    a complete, well-formed request."""
    c = conn()
    sid = c.sid()
    c.send(c.headers_frame(sid, req_fields(c.port)) + frame(DATA, 0, sid, health_body()) +
           c.headers_frame(sid, [("x-trailer", "1")], end_stream=True))
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0, summary(c.frames)


@pytest.mark.parametrize("declared", [100, 3], ids=["more-than-data", "less-than-data"])
def test_content_length_mismatch_is_malformed(conn, declared):
    """§8.1.1: a request is malformed if the value of a content-length header field does not
    equal the sum of the DATA frame payload lengths → stream error PROTOCOL_ERROR; the request
    is not processed."""
    c = conn()
    sid = c.request(extra=[("content-length", str(declared))], body=health_body())
    c.expect_stream_error(sid, PROTOCOL_ERROR)
    assert c.grpc_status(sid) is None, c.blocks.get(sid)
    c.assert_usable()


def test_matching_content_length_is_accepted(conn):
    """§8.1.1 (converse): a content-length equal to the DATA payload length is well-formed."""
    c = conn()
    sid = c.request(extra=[("content-length", str(len(health_body())))], body=health_body())
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0, summary(c.frames)


# ------------------------------------------------------------------ §6.9 flow control


def test_zero_window_update_on_connection_is_a_connection_error(conn):
    """§6.9: a WINDOW_UPDATE with an increment of 0 on the connection flow-control window MUST be
    treated as a connection error of type PROTOCOL_ERROR."""
    c = conn()
    c.send(window_update(0, 0))
    c.expect_connection_error(PROTOCOL_ERROR)


def test_zero_window_update_on_stream_is_a_stream_error(conn):
    """§6.9: a WINDOW_UPDATE with an increment of 0 on a stream MUST be treated as a stream error
    of type PROTOCOL_ERROR (escalation to a connection error is allowed)."""
    c = conn()
    sid = c.request()
    c.send(window_update(sid, 0))
    if c.expect_stream_error(sid, PROTOCOL_ERROR, allow_connection_error=True) == "stream":
        c.assert_usable()


def test_connection_window_overflow_is_flow_control_error(conn):
    """§6.9.1: a WINDOW_UPDATE that makes the connection window exceed 2^31-1 MUST end the
    connection with GOAWAY FLOW_CONTROL_ERROR."""
    c = conn()
    c.send(window_update(0, MAX_WINDOW))
    c.expect_connection_error(FLOW_CONTROL_ERROR)


def test_stream_window_overflow_is_flow_control_error(conn):
    """§6.9.1: a WINDOW_UPDATE that makes a stream window exceed 2^31-1: the sender sends a
    RST_STREAM with FLOW_CONTROL_ERROR (the stream is terminated, not the connection)."""
    c = conn()
    sid = c.request()
    c.send(window_update(sid, MAX_WINDOW))
    c.expect_stream_error(sid, FLOW_CONTROL_ERROR)
    c.assert_usable()


def test_initial_window_change_overflow_is_flow_control_error(conn):
    """§6.9.2: an endpoint MUST treat a change to SETTINGS_INITIAL_WINDOW_SIZE that causes any
    flow-control window to exceed the maximum size as a connection error FLOW_CONTROL_ERROR."""
    c = conn()
    sid = c.request()
    c.send(window_update(sid, MAX_WINDOW - 65535))  # stream window now exactly 2^31-1
    c.settle()
    assert c.goaway is None and sid not in c.rst, summary(c.frames)
    c.send(settings_frame([(INITIAL_WINDOW_SIZE, 65536)]))
    c.settle()
    c.expect_connection_error(FLOW_CONTROL_ERROR, timeout=0.5)


@pytest.mark.slow
def test_reader_that_grants_no_window_is_reset_enhance_your_calm(conn, server, token):
    """CONTRACT §2 (WatchRequests): a caller that reads too slowly ends RESOURCE_EXHAUSTED. One
    that grants no window at all cannot be sent trailers after its queued messages, so after the
    30 s send timeout the stream is reset ENHANCE_YOUR_CALM, which gRPC clients report as
    RESOURCE_EXHAUSTED (PROTOCOL-HTTP2.md); the connection and other calls go on."""
    c = conn(settings=[(INITIAL_WINDOW_SIZE, 0)])
    ids = [r["id"] for r in FIXTURE["requests"] if r["accessPackageId"] == "ap-1"][:3]
    body = pb.WatchRequestsRequest(access_package_id="ap-1", request_ids=ids).SerializeToString()
    sid = c.request(f"/{SERVICE}/WatchRequests", token=token, body=b"\x00" + len(body).to_bytes(4, "big") + body)
    started = time.monotonic()
    assert c.read(40, lambda: sid in c.rst or c.goaway is not None), summary(c.frames_on(sid))
    assert c.rst[sid] == ENHANCE_YOUR_CALM, c.rst
    assert 25 < time.monotonic() - started < 40
    assert not c.data.get(sid), "no window was granted, so no DATA may be sent"
    assert c.goaway is None
    c.send(settings_frame([(INITIAL_WINDOW_SIZE, 65535)]))
    c.assert_usable()
    deadline = time.monotonic() + 3
    while not any("RESOURCE_EXHAUSTED" in line and "WatchRequests" in line and "took none of its response" in line
                  for line in server.log(1_000_000).splitlines()):
        assert time.monotonic() < deadline, "no access line for the reset watch"
        time.sleep(0.05)
    assert any("resetting a stream whose peer stopped reading" in line and "WatchRequests" in line
               for line in server.log(1_000_000).splitlines()), "the notice names the method"


def _flow_controlled(c, sid):
    return sum(c.data_frames.get(sid, []))


def _all_flow_controlled(c):
    return sum(sum(v) for v in c.data_frames.values())


def test_slow_reader_tiny_stream_window_is_respected(conn, token):
    """§6.9.1: a sender MUST NOT send a flow-controlled frame with a length that exceeds the
    space in the receiver's window. With SETTINGS_INITIAL_WINDOW_SIZE 16 the server sends at
    most 16 bytes, then exactly what each WINDOW_UPDATE allows, and the response is complete and
    correct once the client opens the window."""
    c = conn(settings=[(INITIAL_WINDOW_SIZE, 16)])
    sid = c.request(LIST_PATH, token=token, body=list_body(page_size=30))
    granted = 16
    c.read(3, lambda: _flow_controlled(c, sid) >= 16 or sid in c.ended or sid in c.rst)
    c.settle()
    c.read(0.3)
    assert _flow_controlled(c, sid) == 16, (c.data_frames.get(sid), summary(c.frames))
    for step in (1, 7, 100, 1000):
        c.send(window_update(sid, step))
        granted += step
        c.read(2, lambda: _flow_controlled(c, sid) >= granted or sid in c.ended)
        c.settle()
        assert _flow_controlled(c, sid) <= granted, (granted, c.data_frames[sid])
        if sid in c.ended:
            break
        assert _flow_controlled(c, sid) == granted, "server did not use the window it was given"
    c.send(window_update(sid, 1 << 20))
    assert c.wait_stream(sid, 5), summary(c.frames_on(sid))
    assert c.grpc_status(sid) == 0, c.blocks.get(sid)
    assert max(c.data_frames[sid]) <= DEFAULT_FRAME
    msg = c.data[sid]
    assert msg[0] == 0 and int.from_bytes(msg[1:5], "big") == len(msg) - 5
    assert len(pb.ListRequestsResponse.FromString(msg[5:]).requests) == 30


def test_negative_window_after_settings_change_is_respected(conn, token):
    """§6.9.2: a change to SETTINGS_INITIAL_WINDOW_SIZE can make a window negative; a sender
    MUST track the negative window and MUST NOT send new flow-controlled frames until
    WINDOW_UPDATEs make it positive."""
    c = conn(settings=[(INITIAL_WINDOW_SIZE, 100)])
    sid = c.request(LIST_PATH, token=token, body=list_body(page_size=30))
    c.read(3, lambda: _flow_controlled(c, sid) >= 100 or sid in c.ended)
    c.settle()
    assert _flow_controlled(c, sid) == 100, c.data_frames.get(sid)
    c.send(settings_frame([(INITIAL_WINDOW_SIZE, 10)]))  # window: 10 - 100 = -90
    c.read(2, lambda: c.settings_acks >= 2)
    c.send(window_update(sid, 80))                       # -10: still nothing may be sent
    c.settle()
    c.read(0.3)
    assert _flow_controlled(c, sid) == 100, c.data_frames.get(sid)
    c.send(window_update(sid, 30))                       # +20
    c.read(2, lambda: _flow_controlled(c, sid) > 100)
    c.settle()
    assert _flow_controlled(c, sid) == 120, c.data_frames.get(sid)
    c.send(window_update(sid, 1 << 20))
    assert c.wait_stream(sid, 5) and c.grpc_status(sid) == 0, c.blocks.get(sid)


def test_zero_initial_window_then_settings_increase_resumes(conn):
    """§6.9.2: when SETTINGS_INITIAL_WINDOW_SIZE changes, the sender MUST adjust all stream
    windows by the difference: a response held by a 0 window flows once the setting grows."""
    c = conn(settings=[(INITIAL_WINDOW_SIZE, 0)])
    sid = c.request(body=health_body())
    c.settle()
    c.read(0.3)
    assert sid not in c.data, "DATA sent into a zero window"
    c.send(settings_frame([(INITIAL_WINDOW_SIZE, 65535)]))
    assert c.wait_stream(sid), summary(c.frames)
    assert c.grpc_status(sid) == 0 and c.data[sid][5:] == b"\x08\x01"


def test_connection_window_is_respected(conn, token):
    """§6.9.1: flow control applies to the connection as well as each stream: with a large
    stream window but no connection WINDOW_UPDATE the server sends at most 65,535 DATA bytes;
    after one, the (≈200 KB) response completes with no frame over SETTINGS_MAX_FRAME_SIZE."""
    c = conn(settings=[(INITIAL_WINDOW_SIZE, 1 << 24)])
    sid = c.request(LIST_PATH, token=token, body=list_body(ap="ap-big", page_size=1000))
    c.read(3, lambda: _all_flow_controlled(c) >= 65535 or sid in c.ended)
    c.settle()
    c.read(0.3)
    assert _all_flow_controlled(c) == 65535, (_all_flow_controlled(c), sid in c.ended)
    c.send(window_update(0, 1 << 24))
    assert c.wait_stream(sid, 5), summary(c.frames_on(sid))
    assert c.grpc_status(sid) == 0
    assert max(len(f[3]) for f in c.frames) <= DEFAULT_FRAME
    assert len(pb.ListRequestsResponse.FromString(c.data[sid][5:]).requests) == 1000


# ------------------------------------------------------------------ §5.1.2 concurrency


def test_streams_over_the_advertised_limit_are_refused(conn, token):
    """§5.1.2: an endpoint that receives a HEADERS frame that causes its advertised concurrent
    stream limit to be exceeded MUST treat this as a stream error of type PROTOCOL_ERROR or
    REFUSED_STREAM."""
    c = conn()
    limit = c.server_settings[MAX_CONCURRENT_STREAMS]
    ids = [c.sid() for _ in range(limit + 4)]
    c.send(b"".join(c.headers_frame(s, req_fields(c.port, LIST_PATH, token)) for s in ids))
    c.read(3, lambda: len(c.rst) >= 4 or c.goaway is not None)
    if c.goaway is not None:
        # nghttp2, once its SETTINGS are acknowledged, escalates to a connection error
        # (allowed by §5.4.1); before the ACK it refuses with REFUSED_STREAM.
        assert not c.rst, c.rst
        assert c.goaway[:2] == (ids[limit - 1], PROTOCOL_ERROR), c.goaway
        c.read(3)
        assert c.eof, "connection not closed after GOAWAY(PROTOCOL_ERROR)"
    else:
        assert sorted(c.rst) == ids[limit:], sorted(c.rst)[:10]
        assert set(c.rst.values()) <= {REFUSED_STREAM, PROTOCOL_ERROR}, c.rst


# ------------------------------------------------------------------ §6.4 RST_STREAM from the client


def test_client_reset_stops_the_stream_and_others_keep_going(conn, token):
    """§6.4 / §5.4.2: RST_STREAM causes immediate termination of the stream: the server sends no
    further frames on it (and MUST NOT answer it with a RST_STREAM, §5.4.2); other streams of
    the connection keep being served."""
    c = conn()
    c.send(window_update(0, 1 << 24))  # the connection window is not what is tested here
    a = c.request(LIST_PATH, token=token)                       # waiting for its body
    b = c.request(LIST_PATH, token=token)
    c.settle()
    d = c.sid()  # dispatched to its handler and reset in the same write
    c.send(c.headers_frame(d, req_fields(c.port, LIST_PATH, token)) +
           frame(DATA, END_STREAM, d, list_body(ap="ap-big", page_size=1000)) +
           rst_stream(a, CANCEL) + rst_stream(d, CANCEL))
    c.settle()
    c.send(frame(DATA, END_STREAM, b, list_body(page_size=3)))
    assert c.wait_stream(b) and c.grpc_status(b) == 0, summary(c.frames)
    c.assert_usable()
    c.settle()
    assert c.frames_on(a) == [], summary(c.frames_on(a))
    assert c.frames_on(d) == [], summary(c.frames_on(d))


# ------------------------------------------------------------------ §8.1 responses / gRPC


CONNECTION_SPECIFIC = {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                       b"upgrade"}


def _check_field_section(fields, trailers=False):
    names = [k for k, _ in fields]
    for k in names:
        assert k == k.lower(), f"uppercase field name {k!r} (§8.2)"
        assert k not in CONNECTION_SPECIFIC, f"connection-specific field {k!r} (§8.2.2)"
    pseudo = [i for i, k in enumerate(names) if k.startswith(b":")]
    if trailers:
        assert not pseudo, f"pseudo-header in trailers {names} (§8.1)"
    else:
        assert names[0] == b":status", names
        assert pseudo == [0], f"exactly one pseudo-header, :status, first: {names} (§8.3)"


def test_success_response_shape(conn, token):
    """§8.1, §8.2, §8.3.2 and gRPC PROTOCOL-HTTP2 (Response → Response-Headers *Length-Prefixed-
    Message Trailers): HEADERS with :status 200 first, lowercase names, no connection-specific
    fields, content-type application/grpc; then DATA; then a trailers HEADERS with END_STREAM,
    no pseudo-headers, grpc-status 0."""
    c = conn()
    sid = c.request(LIST_PATH, token=token, body=list_body(page_size=2))
    assert c.wait_stream(sid) and c.grpc_status(sid) == 0
    blocks = c.blocks[sid]
    assert len(blocks) == 2, blocks
    (head, head_end), (trail, trail_end) = blocks
    assert not head_end and trail_end
    _check_field_section(head)
    _check_field_section(trail, trailers=True)
    h = dict(head)
    assert h[b":status"] == b"200" and h[b"content-type"].startswith(b"application/grpc"), h
    kinds = [f[0] for f in c.frames_on(sid)]
    assert kinds[0] == HEADERS and kinds[-1] == HEADERS and set(kinds[1:-1]) == {DATA}, kinds
    assert not any(f[1] & END_STREAM for f in c.frames_on(sid) if f[0] == DATA)
    assert b"grpc-status" not in h


@pytest.mark.parametrize("case", ["unknown-method", "unauthenticated", "415"])
def test_error_responses_are_a_single_headers_frame(conn, token, case):
    """gRPC PROTOCOL-HTTP2 (Trailers-Only) and CONTRACT §1: an error before any message is one
    HEADERS frame with END_STREAM carrying :status, content-type and grpc-status (§8.1: the
    trailer-less response is complete); :status first, lowercase, no connection-specific
    fields (§8.2, §8.3)."""
    c = conn()
    if case == "unknown-method":
        sid = c.request("/entitlement.v1.AccessPackageRequests/Nope", token=token, body=list_body())
    elif case == "unauthenticated":
        sid = c.request(LIST_PATH, body=list_body())
    else:
        sid = c.request(LIST_PATH, token=token, body=b"x",
                        extra=[], drop=("content-type",))
    assert c.wait_stream(sid), summary(c.frames)
    frames = [f for f in c.frames_on(sid) if f[0] in (HEADERS, DATA, CONTINUATION)]
    assert len(frames) == 1 and frames[0][0] == HEADERS and frames[0][1] & END_STREAM, summary(frames)
    fields = c.fields(sid)
    _check_field_section(fields)
    h = dict(fields)
    if case == "415":
        assert h[b":status"] == b"415", h
    else:
        assert h[b":status"] == b"200" and h[b"content-type"].startswith(b"application/grpc"), h
        assert h[b"grpc-status"] == {"unknown-method": b"12", "unauthenticated": b"16"}[case], h


def test_unary_request_with_end_stream_on_headers_is_unimplemented(conn, token):
    """gRPC PROTOCOL-HTTP2 / CONTRACT §1: a unary request whose HEADERS carries END_STREAM (zero
    messages) is answered — UNIMPLEMENTED as Trailers-Only — not reset or crashed (§8.1: a
    request may consist of a single HEADERS with END_STREAM)."""
    c = conn()
    sid = c.sid()
    c.send(c.headers_frame(sid, req_fields(c.port, LIST_PATH, token), end_stream=True))
    assert c.wait_stream(sid), summary(c.frames)
    assert sid not in c.rst
    assert c.grpc_status(sid) == 12, c.blocks.get(sid)
    assert len(c.blocks[sid]) == 1 and c.blocks[sid][0][1] and sid not in c.data
    c.assert_usable()


def test_early_response_then_more_request_data_is_fine(conn, token):
    """§8.1: a server can send a complete response before the client has sent its entire request;
    the client's remaining DATA on that (half-closed local) stream is legal and MUST NOT be
    treated as an error."""
    c = conn()
    sid = c.request("/entitlement.v1.AccessPackageRequests/Nope", token=token)
    assert c.wait_stream(sid) and c.grpc_status(sid) == 12
    if sid not in c.rst:  # server MAY have sent RST_STREAM(NO_ERROR) to stop the upload
        c.send(frame(DATA, 0, sid, list_body()) + frame(DATA, END_STREAM, sid, b""))
    else:
        assert c.rst[sid] == NO_ERROR, c.rst
    c.settle()
    assert c.goaway is None, c.goaway
    c.assert_usable()


def test_header_table_size_0_is_honoured(conn, token):
    """§4.3 / §6.5.2 with RFC 7541 §4.2: after SETTINGS_HEADER_TABLE_SIZE 0 the server's HPACK
    encoder MUST signal a table size update at the start of its next field block and MUST NOT
    use the dynamic table."""
    c = conn(settings=[(HEADER_TABLE_SIZE, 0)])
    c.dec.max_allowed_table_size = 0
    c.dec.header_table.maxsize = 0
    for _ in range(3):
        sid = c.request(LIST_PATH, token=token, body=list_body(page_size=1))
        assert c.wait_stream(sid) and c.grpc_status(sid) == 0, (c.goaway, summary(c.frames))
    first = c.first_block_bytes[0]
    assert first[0] & 0xE0 == 0x20 and first[0] & 0x1F == 0, f"no size update: {first[:4]!r}"


def test_client_goaway_lets_open_calls_finish(conn, token):
    """§6.8: after GOAWAY, activity on streams already open might still complete; the client's
    GOAWAY names the server's (push) streams, so the server still answers the client's open
    call."""
    c = conn()
    sid = c.request(LIST_PATH, token=token)
    c.settle()
    c.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, NO_ERROR)) +
           frame(DATA, END_STREAM, sid, list_body(page_size=1)))
    assert c.wait_stream(sid), summary(c.frames)
    assert c.grpc_status(sid) == 0, c.blocks.get(sid)


# ------------------------------------------------------------------ §6.8 GOAWAY from the server


def test_sigterm_goaway_completes_streams_up_to_last_id_and_refuses_new(launcher, token):
    """§6.8: the server's GOAWAY (NO_ERROR for a graceful shutdown) names the last stream it
    may process; streams ≤ that id complete normally; streams > it are not processed (the
    sender of GOAWAY ignores them); the connection is then closed and no new connection is
    accepted (CONTRACT §1: SIGTERM → GOAWAY, in-flight calls finish, exit 0). The server first
    sends the shutdown notice §6.8 recommends (last-stream-id 2^31-1), then the final GOAWAY."""
    srv = launcher()
    c = Conn(srv.port)
    try:
        a = c.request(LIST_PATH, token=token)
        b = c.request(LIST_PATH, token=token)
        assert c.settle()
        srv.proc.send_signal(signal.SIGTERM)
        assert c.read(5, lambda: c.goaway is not None), summary(c.frames)
        notices = [f for f in c.frames if f[0] == GOAWAY]
        assert int.from_bytes(notices[0][3][:4], "big") & 0x7FFFFFFF == 0x7FFFFFFF, "no shutdown notice first"
        assert c.read(5, lambda: c.goaway is not None and c.goaway[0] != 0x7FFFFFFF), summary(c.frames)
        last, code, _ = c.goaway
        assert code == NO_ERROR and last >= b, c.goaway
        late = c.sid()
        assert late > last
        c.send(c.headers_frame(late, req_fields(c.port)) + frame(DATA, END_STREAM, late, health_body()) +
               frame(DATA, END_STREAM, a, list_body(page_size=1)) +
               frame(DATA, END_STREAM, b, list_body(page_size=2)))
        assert c.read(5, lambda: {a, b} <= c.ended), summary(c.frames)
        assert c.grpc_status(a) == 0 and c.grpc_status(b) == 0, (c.blocks.get(a), c.blocks.get(b))
        assert len(pb.ListRequestsResponse.FromString(c.data[b][5:]).requests) == 2
        c.read(5, lambda: False)
        assert c.eof, "connection not closed after its last stream finished"
        late_frames = [f for f in c.frames_on(late) if f[0] != RST_STREAM]
        assert not late_frames, f"stream above last-stream-id was processed: {summary(late_frames)}"
        if late in c.rst:
            assert c.rst[late] == REFUSED_STREAM, c.rst
    finally:
        c.close()
    with pytest.raises(OSError):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        try:  # accepted by a still-open backlog? then it must not be served
            s.sendall(PREFACE + settings_frame())
            s.settimeout(2)
            if not s.recv(1):
                raise ConnectionResetError("closed")
        finally:
            s.close()
    assert srv.proc.wait(15) == 0, srv.log()

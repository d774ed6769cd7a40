"""Load generation for scripts/overload and scripts/soak.

- `Target`: starts an `entitlement-server` (release binary if built, else debug) on a free port
  with a generated fixture, using the interop suite's helpers (Tests/Interop/helpers.py: keys,
  JWKS, tokens, fixture, Server); optionally pinned to CPU 0 with the load on the other CPUs.
- `run_load`: a gRPC-over-HTTP/2 load driver on raw sockets, in one or more processes. OPEN loop
  (`rate`): calls are scheduled at fixed intended times (start + n / rate) and sent then whatever
  the replies; latency is measured from the intended send time, so a driver or server that falls
  behind shows up in the numbers (no coordinated omission). CLOSED loop (`concurrency`): that
  many calls outstanding per process, a new one as soon as one ends.
  Frames are built by hand: request headers are HPACK-indexed once per connection (like any
  real client) so the steady-state header block is a few bytes; the client advertises
  SETTINGS_HEADER_TABLE_SIZE 0, so every response header block decodes on its own and is
  cached by its bytes. Each call's gRPC status comes from its trailers.
- `Sampler`: the server's RSS (VmRSS samples, VmHWM) and health Check status over a run.
- `h2load_capacity`: a closed-loop capacity figure from h2load (gRPC headers, prepared body),
  counting only responses that carried the expected message (an error is headers only).
"""

from __future__ import annotations

import array
import collections
import datetime as dt
import json
import multiprocessing as mp
import os
import re
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

# The driver forks worker processes that never use grpcio; grpcio's fork handlers only warn.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

REPO = Path(__file__).resolve().parents[2]
INTEROP = REPO / "Tests" / "Interop"

GRPC_CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
              "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
              "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
              "UNAUTHENTICATED"]
H2_ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
             "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
             "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY",
             "HTTP_1_1_REQUIRED"]

LIST_PATH = "/entitlement.v1.AccessPackageRequests/ListRequests"
REPROCESS_PATH = "/entitlement.v1.AccessPackageRequests/Reprocess"
HEALTH_PATH = "/grpc.health.v1.Health/Check"
SERVING_BODY = b"\x00\x00\x00\x00\x02\x08\x01"  # HealthCheckResponse{status: SERVING}


def helpers():
    """The interop suite's helpers module (compiles the protos on first import)."""
    if str(INTEROP) not in sys.path:
        sys.path.insert(0, str(INTEROP))
    import helpers as h  # noqa: E402
    return h


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


def pick_binary(explicit: str | None = None) -> tuple[Path, str]:
    if explicit:
        p = Path(explicit)
        kind = "release" if "/release/" in str(p.resolve()) else (
            "debug" if "/debug/" in str(p.resolve()) else "custom")
        return p, kind
    for kind in ("release", "debug"):
        p = REPO / ".build" / kind / "entitlement-server"
        if p.is_file() and os.access(p, os.X_OK):
            return p, kind
    raise SystemExit("no entitlement-server binary in .build/release or .build/debug "
                     "(swift build [-c release] --product entitlement-server), or pass --binary")


def split_cpus(pin: bool) -> tuple[set[int] | None, set[int]]:
    """(server CPUs, load CPUs). Pinned: the server gets the lowest usable CPU, load the rest."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, set(cpus)
    return {cpus[0]}, set(cpus[1:])


class Target:
    """A server process on a fresh workspace. `fixture_extra(fixture_dict)` may add data."""

    def __init__(self, binary: Path, server_cpus: set[int] | None, load_cpus: set[int],
                 extra=(), fixture_extra=None, name="load"):
        os.environ["ENTITLEMENT_SERVER"] = str(binary)
        h = helpers()
        self.h = h
        self.ws = h.Workspace(name)
        if fixture_extra is not None:
            fx = json.loads(json.dumps(h.FIXTURE))
            fixture_extra(fx)
            self.ws.fixture.write_text(json.dumps(fx))
        self.token = h.mint("oid-load-admin", [h.GLOBAL_ADMIN], exp=int(time.time()) + 6 * 3600)
        # The child inherits the CPU mask at fork: narrow ours to the server's, start, widen back.
        if server_cpus:
            os.sched_setaffinity(0, server_cpus)
        try:
            self.server = h.Server(self.ws, self.ws.data_dir("data"), extra=list(extra))
        finally:
            os.sched_setaffinity(0, load_cpus)
        self.server.wait_ready(timeout=60)
        self.pid = self.server.proc.pid
        self.port = self.server.port
        self.addr = self.server.addr

    def md(self):
        return (("authorization", f"Bearer {self.token}"),)

    def stop(self) -> int | None:
        rc = self.server.stop()
        return rc

    def keep_log(self) -> Path:
        """Copies the server's log out of the workspace (which cleanup removes)."""
        import tempfile

        dst = Path(tempfile.gettempdir()) / f"entitlement-{self.ws.root.name}-server.log"
        shutil.copyfile(self.server.log_path, dst)
        return dst

    def cleanup(self):
        if self.server.alive():
            self.server.kill()
        self.ws.cleanup()

    def log_tail(self, n=3000) -> str:
        return self.server.log(n)


def list_body(package: str, page_size: int) -> bytes:
    h = helpers()
    return h.list_body(package, page_size)


def reprocess_bodies(package: str, ids: list[str], batch: int, count: int, seed: int) -> list[bytes]:
    import random

    h = helpers()
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        chosen = rng.sample(ids, min(batch, len(ids)))
        msg = h.pb.ReprocessRequest(access_package_id=package, request_ids=chosen).SerializeToString()
        out.append(h.grpc_frame(msg))
    return out


def health_body() -> bytes:
    return b"\x00\x00\x00\x00\x00"


# --------------------------------------------------------------------------------------------
# Sampling RSS and health
# --------------------------------------------------------------------------------------------


def proc_status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Sampler:
    """Samples the server's VmRSS and polls Health/Check (service "") in background threads."""

    def __init__(self, pid: int, addr: str, rss_every=0.5, health_every=0.5, health_timeout=2.0):
        self.pid, self.addr = pid, addr
        self.rss: list[tuple[float, int]] = []
        self.health = collections.Counter()
        self.health_lat = array.array("d")
        self.health_events: list[tuple[float, str]] = []  # non-SERVING results, with time
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rss_loop, args=(rss_every,), daemon=True),
                         threading.Thread(target=self._health_loop, args=(health_every, health_timeout),
                                          daemon=True)]
        self.t0 = time.monotonic()

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(5)

    def _rss_loop(self, every):
        while not self._stop.is_set():
            v = proc_status_kib(self.pid, "VmRSS")
            if v is not None:
                self.rss.append((time.monotonic() - self.t0, v))
            self._stop.wait(every)

    def _health_loop(self, every, timeout):
        import grpc

        h = helpers()
        ch = grpc.insecure_channel(self.addr)
        stub = h.health_grpc.HealthStub(ch)
        try:
            while not self._stop.is_set():
                t = time.monotonic()
                try:
                    r = stub.Check(h.health_pb.HealthCheckRequest(service=""), timeout=timeout)
                    name = h.health_pb.HealthCheckResponse.ServingStatus.Name(r.status)
                except grpc.RpcError as e:
                    name = f"error {e.code().name}"
                self.health_lat.append(time.monotonic() - t)
                self.health[name] += 1
                if name != "SERVING":
                    self.health_events.append((t - self.t0, name))
                self._stop.wait(max(0.0, every - (time.monotonic() - t)))
        finally:
            ch.close()

    def rss_between(self, t_from: float, t_to: float) -> list[int]:
        return [v for (t, v) in self.rss if t_from <= t <= t_to]

    def hwm_kib(self) -> int | None:
        return proc_status_kib(self.pid, "VmHWM")


# --------------------------------------------------------------------------------------------
# h2load closed-loop capacity
# --------------------------------------------------------------------------------------------


def h2load_capacity(addr: str, path: str, body: bytes, token: str, ok_data_bytes: int,
                    seconds: float, clients: int, streams: int, load_cpus: set[int],
                    workdir: Path, warmup: float = 1.0) -> dict | None:
    """Closed loop with h2load. Returns None when h2load is not installed.

    h2load sees only HTTP status; a gRPC error (RESOURCE_EXHAUSTED etc.) is a 200 with no
    DATA, so OK calls are counted as received data bytes / the bytes of one OK response."""
    exe = shutil.which("h2load")
    if exe is None:
        return None
    bodyfile = workdir / "h2load-body.bin"
    bodyfile.write_bytes(body)
    args = [exe, "-c", str(clients), "-m", str(streams), "-t", "1", "-D", f"{seconds:g}",
            "--warm-up-time", f"{warmup:g}",
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-H", f"authorization: Bearer {token}", "-d", str(bodyfile), f"http://{addr}{path}"]
    cpus = ",".join(str(c) for c in sorted(load_cpus))
    if shutil.which("taskset"):
        args = ["taskset", "-c", cpus] + args
    p = subprocess.run(args, capture_output=True, text=True, timeout=seconds + warmup + 60)
    out = p.stdout
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    traffic = re.search(r"\((\d+)\) data", out)
    if not (m and counts and traffic):
        raise RuntimeError(f"could not parse h2load output:\n{out}\n{p.stderr}")
    elapsed = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    done = int(counts.group(3))
    data = int(traffic.group(1))
    ok = data // ok_data_bytes if ok_data_bytes > 0 else done
    return {"tool": "h2load", "clients": clients, "streams": streams, "seconds": elapsed,
            "done": done, "ok": ok, "not_ok": max(0, done - ok), "req_per_s": float(m.group(3)),
            "ok_per_s": ok / elapsed if elapsed > 0 else 0.0, "raw": out}


# --------------------------------------------------------------------------------------------
# HPACK (request side) and frames
# --------------------------------------------------------------------------------------------


def _hp_int(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hp_str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return _hp_int(len(b), 7, 0) + b


# Static table indices (RFC 7541 appendix A).
_ST_METHOD_POST, _ST_SCHEME_HTTP = 3, 6
_ST_NAME_AUTHORITY, _ST_NAME_PATH, _ST_NAME_AUTHORIZATION = 1, 4, 23
_ST_NAME_CONTENT_TYPE, _ST_NAME_USER_AGENT = 31, 58


class RequestHeaders:
    """Header blocks for one connection: the first request inserts the common fields into the
    server's HPACK table; every later request names them by index (one byte each)."""

    def __init__(self, authority: str, token: str | None, timeout_ms: int | None, paths: list[str]):
        common = [(_ST_NAME_AUTHORITY, ":authority", authority),
                  (_ST_NAME_CONTENT_TYPE, "content-type", "application/grpc"),
                  (None, "te", "trailers"),
                  (_ST_NAME_USER_AGENT, "user-agent", "entitlement-loadgen/1")]
        if token:
            common.append((_ST_NAME_AUTHORIZATION, "authorization", f"Bearer {token}"))
        if timeout_ms:
            common.append((None, "grpc-timeout", f"{timeout_ms}m"))
        size = sum(len(n) + len(v) + 32 for (_, n, v) in common)
        assert size <= 4096, "common headers do not fit the default HPACK table"
        insert = b""
        for idx, name, value in common:
            if idx is not None:
                insert += _hp_int(idx, 6, 0x40) + _hp_str(value)
            else:
                insert += b"\x40" + _hp_str(name) + _hp_str(value)
        n = len(common)
        # After inserting E1..En, En is index 62 and E1 is 62 + n - 1.
        refs = b"".join(_hp_int(62 + (n - 1 - i), 7, 0x80) for i in range(n))
        pseudo = bytes([0x80 | _ST_METHOD_POST, 0x80 | _ST_SCHEME_HTTP])
        self.first = []
        self.steady = []
        for path in paths:
            p = _hp_int(_ST_NAME_PATH, 4, 0x00) + _hp_str(path)  # literal, not indexed
            # :authority is among the common fields, so it comes right after :path either way.
            self.first.append(pseudo + p + insert)
            self.steady.append(pseudo + p + refs)


def _frame_header(length: int, ftype: int, flags: int, sid: int) -> bytes:
    return struct.pack(">BHBBI", length >> 16, length & 0xFFFF, ftype, flags, sid)


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
F_DATA, F_HEADERS, F_PRIORITY, F_RST, F_SETTINGS, F_PUSH, F_PING, F_GOAWAY, F_WINDOW, F_CONT = range(10)
FL_END_STREAM, FL_ACK, FL_END_HEADERS, FL_PADDED, FL_PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
_HDR = struct.Struct(">BHBBI")
BIG_WINDOW = (1 << 31) - 1


def _client_preface() -> bytes:
    settings = struct.pack(">HI", 1, 0) + struct.pack(">HI", 2, 0) + struct.pack(">HI", 4, BIG_WINDOW)
    return (PREFACE + _frame_header(len(settings), F_SETTINGS, 0, 0) + settings +
            _frame_header(4, F_WINDOW, 0, 0) + struct.pack(">I", BIG_WINDOW - 65535))


# --------------------------------------------------------------------------------------------
# The driver (runs in worker processes)
# --------------------------------------------------------------------------------------------


class CallType:
    def __init__(self, name: str, path: str, bodies: list[bytes], weight: float = 1.0,
                 keep_data: bool = False):
        self.name, self.path, self.bodies, self.weight, self.keep_data = \
            name, path, bodies, weight, keep_data


class _Acc:
    """What one worker measured in one interval."""

    def __init__(self, types):
        self.counts = collections.Counter()  # (type, label) -> n
        self.ok_lat = {t.name: array.array("d") for t in types}
        self.lag = array.array("d")
        self.sent = 0
        self.intended = 0
        self.unsent = 0  # due, but no connection had a free stream
        self.outcomes = collections.Counter()
        self.bytes = 0
        self.notes = collections.Counter()

    def export(self, index: int, worker: int) -> dict:
        return {"index": index, "worker": worker, "counts": dict(self.counts),
                "ok_lat": {k: v.tobytes() for k, v in self.ok_lat.items()},
                "lag": self.lag.tobytes(), "sent": self.sent, "intended": self.intended,
                "unsent": self.unsent, "outcomes": dict(self.outcomes), "bytes": self.bytes,
                "notes": dict(self.notes)}


class _Conn:
    def __init__(self, host, port, hdrs: RequestHeaders, sel):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.hdrs = hdrs
        self.sel = sel
        self.out = bytearray(_client_preface())
        self.inbuf = bytearray()
        self.next_sid = 1
        self.first = True
        self.max_streams = 100  # until the server's SETTINGS says otherwise
        self.send_window = 65535
        self.blocked: collections.deque = collections.deque()  # DATA frames waiting for window
        self.streams: dict[int, list] = {}  # sid -> [type_index, intended, data bytes, data|None]
        self.consumed = 0
        self.dead = False
        self.goaway = False
        self.hblock = None  # (sid, end_stream, bytearray) while CONTINUATION frames follow
        self.writing = False
        sel.register(self.sock, selectors.EVENT_READ, self)

    def usable(self) -> bool:
        return not self.dead and not self.goaway and len(self.streams) < self.max_streams

    def issue(self, ti: int, body: bytes, intended: float, keep: bool):
        sid = self.next_sid
        self.next_sid += 2
        block = self.hdrs.first[ti] if self.first else self.hdrs.steady[ti]
        self.first = False
        out = self.out
        out += _frame_header(len(block), F_HEADERS, FL_END_HEADERS, sid)
        out += block
        data = _frame_header(len(body), F_DATA, FL_END_STREAM, sid) + body
        if not self.blocked and self.send_window >= len(body):
            self.send_window -= len(body)
            out += data
        else:
            self.blocked.append((len(body), data))
        self.streams[sid] = [ti, intended, 0, bytearray() if keep else None]

    def flush(self):
        if not self.out or self.dead:
            return
        try:
            n = self.sock.send(self.out)
            del self.out[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.dead = True
            return
        want = bool(self.out)
        if want != self.writing:
            self.writing = want
            self.sel.modify(self.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0),
                            self)

    def close(self):
        self.dead = True
        try:
            self.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class _Worker:
    def __init__(self, wid, host, port, types, token, timeout_ms, connections, mode, rate,
                 concurrency, t_start_wall, duration, interval, queue, seed, drain):
        import random

        self.wid, self.host, self.port, self.types = wid, host, port, types
        self.mode, self.rate, self.concurrency = mode, rate, concurrency
        self.duration, self.interval, self.queue, self.drain = duration, interval, queue, drain
        self.timeout_s = (timeout_ms / 1000.0) if timeout_ms else 30.0
        self.rng = random.Random(seed)
        self.hdrs = RequestHeaders(f"{host}:{port}", token, timeout_ms, [t.path for t in types])
        self.sel = selectors.DefaultSelector()
        self.nconn = connections
        self.conns: list[_Conn] = []
        self.rr = 0
        self.t_start_wall = t_start_wall
        self.acc = _Acc(types)
        self.status_cache: dict[bytes, tuple] = {}
        self.body_pos = [0] * len(types)
        w = [t.weight for t in types]
        total = sum(w)
        self.cum = []
        c = 0.0
        for x in w:
            c += x / total
            self.cum.append(c)

    # -- connections
    def _open(self):
        try:
            c = _Conn(self.host, self.port, self.hdrs, self.sel)
        except OSError as e:
            self.acc.notes[f"connect failed: {e.__class__.__name__}"] += 1
            return None
        self.conns.append(c)
        return c

    def _lost(self, c: _Conn, label: str, now: float):
        for sid, st in list(c.streams.items()):
            self._finish(st, label, now)
        c.streams.clear()
        c.close()
        self.conns.remove(c)

    # -- accounting
    def _finish(self, st, label, now):
        t = self.types[st[0]]
        self.acc.counts[(t.name, label)] += 1
        if label == "OK":
            self.acc.ok_lat[t.name].append(now - st[1])
            if t.keep_data and st[3] is not None:
                self._inspect(t, bytes(st[3]))

    def _inspect(self, t: CallType, data: bytes):
        if t.path == HEALTH_PATH:
            if data != SERVING_BODY:
                self.acc.notes["health call answered other than SERVING"] += 1
        elif t.path == REPROCESS_PATH and len(data) >= 5:
            h = helpers()
            try:
                resp = h.pb.ReprocessResponse.FromString(data[5:])
            except Exception:
                self.acc.notes["undecodable ReprocessResponse"] += 1
                return
            for r in resp.results:
                self.acc.outcomes[h.pb.ReprocessOutcome.Name(r.outcome)] += 1

    def _status_of(self, block: bytes):
        got = self.status_cache.get(block)
        if got is None:
            import hpack

            try:
                hdrs = dict(hpack.Decoder().decode(block, raw=False))
                gs = hdrs.get("grpc-status")
                got = (int(gs) if gs is not None and gs.isdigit() else None, hdrs.get(":status"),
                       hdrs.get("grpc-message", ""))
            except Exception:
                got = (None, None, "hpack decode error")
            if len(self.status_cache) < 10000:
                self.status_cache[block] = got
        return got

    def _label(self, status) -> str:
        gs, http, msg = status
        if gs is None:
            if msg == "hpack decode error":
                return "response headers undecodable"
            return f"no grpc-status (HTTP {http})"
        return GRPC_CODES[gs] if 0 <= gs < len(GRPC_CODES) else f"grpc-status {gs}"

    # -- frames
    def _on_readable(self, c: _Conn, now: float):
        try:
            chunk = c.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._lost(c, "connection lost", now)
            return
        self.acc.bytes += len(chunk)
        buf = c.inbuf
        buf += chunk
        pos, n = 0, len(buf)
        streams = c.streams
        while n - pos >= 9:
            hi, lo, ftype, flags, sid = _HDR.unpack_from(buf, pos)
            ln = (hi << 16) | lo
            if n - pos < 9 + ln:
                break
            p0 = pos + 9
            pos = p0 + ln
            sid &= 0x7FFFFFFF
            if ftype == F_DATA:
                c.consumed += ln
                st = streams.get(sid)
                if st is not None:
                    a, b = p0, pos
                    if flags & FL_PADDED:
                        pad = buf[p0]
                        a, b = p0 + 1, pos - pad
                    st[2] += b - a
                    if st[3] is not None:
                        st[3] += buf[a:b]
                    if flags & FL_END_STREAM:
                        del streams[sid]
                        self._finish(st, "no trailers", now)
            elif ftype == F_HEADERS or ftype == F_CONT:
                if ftype == F_HEADERS:
                    a, b = p0, pos
                    if flags & FL_PADDED:
                        pad = buf[p0]
                        a, b = p0 + 1, pos - pad
                    if flags & FL_PRIORITY:
                        a += 5
                    end_stream = bool(flags & FL_END_STREAM)
                    if flags & FL_END_HEADERS:
                        if end_stream:
                            self._end_headers(c, sid, bytes(buf[a:b]), now)
                    else:
                        c.hblock = (sid, end_stream, bytearray(buf[a:b]))
                else:
                    if c.hblock is not None:
                        c.hblock[2].extend(buf[p0:pos])
                        if flags & FL_END_HEADERS:
                            hsid, end_stream, block = c.hblock
                            c.hblock = None
                            if end_stream:
                                self._end_headers(c, hsid, bytes(block), now)
            elif ftype == F_RST:
                st = streams.pop(sid, None)
                if st is not None:
                    code = struct.unpack_from(">I", buf, p0)[0]
                    name = H2_ERRORS[code] if code < len(H2_ERRORS) else str(code)
                    self._finish(st, f"RST_STREAM {name}", now)
            elif ftype == F_SETTINGS:
                if not flags & FL_ACK:
                    for i in range(p0, pos - 5, 6):
                        ident, value = struct.unpack_from(">HI", buf, i)
                        if ident == 3:
                            c.max_streams = value
                    c.out += _frame_header(0, F_SETTINGS, FL_ACK, 0)
            elif ftype == F_PING:
                if not flags & FL_ACK:
                    c.out += _frame_header(8, F_PING, FL_ACK, 0) + bytes(buf[p0:pos])
            elif ftype == F_WINDOW:
                if sid == 0:
                    c.send_window += struct.unpack_from(">I", buf, p0)[0] & 0x7FFFFFFF
                    while c.blocked and c.send_window >= c.blocked[0][0]:
                        size, data = c.blocked.popleft()
                        c.send_window -= size
                        c.out += data
            elif ftype == F_GOAWAY:
                last, code = struct.unpack_from(">II", buf, p0)
                last &= 0x7FFFFFFF
                c.goaway = True
                name = H2_ERRORS[code] if code < len(H2_ERRORS) else str(code)
                debug = bytes(buf[p0 + 8:pos])[:80].decode(errors="replace")
                self.acc.notes[f"GOAWAY {name}" + (f" '{debug}'" if debug else "")] += 1
                for s in [s for s in streams if s > last]:
                    self._finish(streams.pop(s), "refused by GOAWAY", now)
        del buf[:pos]
        if c.consumed > (1 << 26):
            c.out += _frame_header(4, F_WINDOW, 0, 0) + struct.pack(">I", c.consumed)
            c.consumed = 0
        if c.goaway and not c.streams:
            self._lost(c, "connection lost", now)

    def _end_headers(self, c: _Conn, sid: int, block: bytes, now: float):
        st = c.streams.pop(sid, None)
        if st is None:
            return
        self._finish(st, self._label(self._status_of(block)), now)

    # -- scheduling
    def _pick_type(self) -> int:
        if len(self.types) == 1:
            return 0
        x = self.rng.random()
        for i, c in enumerate(self.cum):
            if x < c:
                return i
        return len(self.types) - 1

    def _send_one(self, intended: float, now: float) -> bool:
        conns = self.conns
        k = len(conns)
        for j in range(k):
            c = conns[(self.rr + j) % k]
            if c.usable():
                self.rr = (self.rr + j + 1) % max(1, k)
                ti = self._pick_type()
                t = self.types[ti]
                bodies = t.bodies
                body = bodies[self.body_pos[ti] % len(bodies)]
                self.body_pos[ti] += 1
                c.issue(ti, body, intended, t.keep_data)
                self.acc.sent += 1
                self.acc.lag.append(now - intended)
                return True
        return False

    def _outstanding(self) -> int:
        return sum(len(c.streams) for c in self.conns)

    def _sweep(self, now):
        # Calls past their deadline (from the intended send time, plus 100 ms for the server's
        # own DEADLINE_EXCEEDED to arrive): the client gives up, as a gRPC client does, with
        # RST_STREAM CANCEL.
        limit = self.timeout_s + 0.1
        for c in list(self.conns):
            old = []
            for sid, st in c.streams.items():
                if now - st[1] > limit:
                    old.append(sid)
                else:
                    break  # streams are in intended-time order
            for sid in old:
                st = c.streams.pop(sid)
                c.out += _frame_header(4, F_RST, 0, sid) + struct.pack(">I", 8)
                self._finish(st, "client deadline (cancelled)", now)

    def _report(self, index):
        self.queue.put(("interval", self.acc.export(index, self.wid)))
        self.acc = _Acc(self.types)

    def run(self):
        mono = time.monotonic
        for _ in range(self.nconn):
            self._open()
        # Common start across processes, on the wall clock.
        delay = self.t_start_wall - time.time()
        if delay > 0:
            time.sleep(delay)
        t0 = mono()
        end = t0 + self.duration
        index = 0
        next_report = t0 + self.interval
        n = 0
        phase = self.rng.random()
        next_t = t0 + phase / self.rate if self.mode == "open" else t0
        last_sweep = t0
        stop_issuing = False
        drain_until = None
        while True:
            now = mono()
            if now >= next_report:
                self._report(index)
                index += 1
                next_report += self.interval
            if not stop_issuing and now >= end:
                stop_issuing = True
                drain_until = now + self.drain
            if stop_issuing and (self._outstanding() == 0 or now >= drain_until):
                break
            # keep the connection count up
            while not stop_issuing and len(self.conns) < self.nconn:
                if self._open() is None:
                    break
            if not stop_issuing:
                if self.mode == "open":
                    while next_t <= now and next_t < end:
                        self.acc.intended += 1
                        if not self._send_one(next_t, now):
                            self.acc.unsent += 1
                        n += 1
                        next_t = t0 + (n + phase) / self.rate
                else:
                    want = self.concurrency - self._outstanding()
                    while want > 0:
                        self.acc.intended += 1
                        if not self._send_one(now, now):
                            self.acc.unsent += 1
                            break
                        want -= 1
            for c in self.conns:
                if c.out:
                    c.flush()
            for c in [c for c in self.conns if c.dead]:
                self._lost(c, "connection lost", now)
            if now - last_sweep > 0.02:
                self._sweep(now)
                last_sweep = now
            if self.mode == "open" and not stop_issuing:
                timeout = max(0.0, min(next_t - mono(), next_report - mono(), 0.02))
            else:
                timeout = 0.02
            events = self.sel.select(timeout)
            now = mono()
            for key, mask in events:
                c = key.data
                if c.dead:
                    continue
                if mask & selectors.EVENT_READ:
                    self._on_readable(c, now)
                if mask & selectors.EVENT_WRITE and not c.dead:
                    c.flush()
        now = mono()
        for c in list(self.conns):
            for sid, st in list(c.streams.items()):
                self._finish(st, "unanswered at end", now)
            c.streams.clear()
            c.close()
        self._report(index)
        self.queue.put(("done", {"worker": self.wid, "elapsed": mono() - t0}))


def _worker_main(kw, cpus):
    if cpus:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            pass
    try:
        _Worker(**kw).run()
    except Exception as e:  # report instead of hanging the parent
        import traceback

        kw["queue"].put(("error", {"worker": kw["wid"], "error": repr(e),
                                   "trace": traceback.format_exc()}))


class LoadResult:
    """Aggregated over workers; `intervals[i]` aggregates interval i over workers."""

    def __init__(self):
        self.intervals: dict[int, _Merged] = {}
        self.total = _Merged()
        self.elapsed = 0.0
        self.errors: list[dict] = []


class _Merged:
    def __init__(self):
        self.counts = collections.Counter()
        self.ok_lat = collections.defaultdict(lambda: array.array("d"))
        self.lag = array.array("d")
        self.sent = self.intended = self.unsent = self.bytes = 0
        self.outcomes = collections.Counter()
        self.notes = collections.Counter()

    def add(self, d: dict):
        self.counts.update({tuple(k): v for k, v in d["counts"].items()})
        for k, v in d["ok_lat"].items():
            a = array.array("d")
            a.frombytes(v)
            self.ok_lat[k].extend(a)
        a = array.array("d")
        a.frombytes(d["lag"])
        self.lag.extend(a)
        self.sent += d["sent"]
        self.intended += d["intended"]
        self.unsent += d["unsent"]
        self.bytes += d["bytes"]
        self.outcomes.update(d["outcomes"])
        self.notes.update(d["notes"])

    def by_label(self) -> collections.Counter:
        out = collections.Counter()
        for (_, label), v in self.counts.items():
            out[label] += v
        return out

    def all_ok_lat(self) -> list[float]:
        out = []
        for a in self.ok_lat.values():
            out.extend(a)
        return out


def run_load(addr: str, types: list[CallType], token: str | None, duration: float,
             mode: str = "open", rate: float = 0.0, concurrency: int = 0, procs: int = 1,
             connections: int = 8, timeout_ms: int | None = 2000, interval: float = 5.0,
             load_cpus: set[int] | None = None, on_interval=None, seed: int = 1,
             drain: float | None = None) -> LoadResult:
    """Runs `procs` worker processes for `duration` s. `rate` is the TOTAL intended calls/s
    (open loop); `concurrency` the outstanding calls PER process (closed loop). `on_interval(i,
    merged)` is called in the parent once every worker has reported interval i."""
    host, port = addr.rsplit(":", 1)
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    t_start = time.time() + 0.5 + 0.1 * procs
    per_conn = max(1, connections // procs)
    drain = drain if drain is not None else ((timeout_ms or 2000) / 1000.0 + 3.0)
    ps = []
    for w in range(procs):
        kw = dict(wid=w, host=host, port=int(port), types=types, token=token, timeout_ms=timeout_ms,
                  connections=per_conn, mode=mode, rate=rate / procs if rate else 0.0,
                  concurrency=concurrency, t_start_wall=t_start, duration=duration,
                  interval=interval, queue=q, seed=seed * 1000 + w, drain=drain)
        p = ctx.Process(target=_worker_main, args=(kw, load_cpus), daemon=True)
        p.start()
        ps.append(p)
    res = LoadResult()
    pending = collections.defaultdict(int)
    done = 0
    hard_stop = time.monotonic() + duration + drain + 60
    while done < procs:
        try:
            kind, d = q.get(timeout=1.0)
        except Exception:
            if time.monotonic() > hard_stop or not any(p.is_alive() for p in ps):
                if not any(p.is_alive() for p in ps) and q.empty():
                    res.errors.append({"error": "workers exited without reporting"})
                    break
                if time.monotonic() > hard_stop:
                    res.errors.append({"error": "workers did not finish in time"})
                    break
            continue
        if kind == "interval":
            m = res.intervals.setdefault(d["index"], _Merged())
            m.add(d)
            res.total.add(d)
            pending[d["index"]] += 1
            if pending[d["index"]] == procs and on_interval is not None:
                on_interval(d["index"], m)
        elif kind == "done":
            done += 1
            res.elapsed = max(res.elapsed, d["elapsed"])
        elif kind == "error":
            res.errors.append(d)
            done += 1
    for p in ps:
        p.join(5)
        if p.is_alive():
            p.kill()
    return res


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def pct(values, q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ms(v: float | None) -> str:
    return "-" if v is None else (f"{v * 1000:.1f} ms" if v < 10 else f"{v:.1f} s")


def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def mtime_utc(p: Path) -> str:
    return dt.datetime.fromtimestamp(p.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

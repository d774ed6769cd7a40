"""Shared helpers for the interop suite: generated protobuf modules, keys and tokens,
the fixture, the server process, and a raw HTTP/2 client.

Everything here talks to a real `entitlement-server` process over real sockets; nothing
is mocked. Only stdlib, grpcio, grpcio-tools, PyJWT, cryptography and h2 are used.
"""

from __future__ import annotations

import atexit
import base64
import datetime as dt
import hashlib
import hmac
import importlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "proto"

ISSUER = "https://login.interop.example/tenant-interop/v2.0"
AUDIENCE = "api://entitlement-interop"
TENANT = "11111111-2222-3333-4444-555555555555"

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
IGA = "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"

SERVICE = "entitlement.v1.AccessPackageRequests"
LIST_PATH = f"/{SERVICE}/ListRequests"
REPROCESS_PATH = f"/{SERVICE}/Reprocess"
HEALTH_PATH = "/grpc.health.v1.Health/Check"

# --------------------------------------------------------------------------------------
# Generated code: compiled once per session into a temp dir, never committed.
# --------------------------------------------------------------------------------------

_GEN_DIR = Path(tempfile.mkdtemp(prefix="interop-gen-"))
atexit.register(shutil.rmtree, _GEN_DIR, True)


def _compile_protos():
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    src = _GEN_DIR / "src"
    (src / "entitlement" / "v1").mkdir(parents=True)
    shutil.copy(PROTO_DIR / "entitlement/v1/access_requests.proto", src / "entitlement/v1/")
    # The health proto lives under a directory name that cannot shadow the `grpc` package.
    (src / "interop_health").mkdir()
    shutil.copy(PROTO_DIR / "grpc/health/v1/health.proto", src / "interop_health/health.proto")
    out = _GEN_DIR / "py"
    out.mkdir()
    for rel in ("entitlement/v1/access_requests.proto", "interop_health/health.proto"):
        rc = protoc.main([
            "grpc_tools.protoc", f"-I{src}", f"-I{well_known}",
            f"--python_out={out}", f"--grpc_python_out={out}", str(src / rel),
        ])
        if rc != 0:
            raise RuntimeError(f"protoc failed for {rel} (exit {rc})")
    sys.path.insert(0, str(out))


_compile_protos()
pb = importlib.import_module("entitlement.v1.access_requests_pb2")
pb_grpc = importlib.import_module("entitlement.v1.access_requests_pb2_grpc")
health_pb = importlib.import_module("interop_health.health_pb2")
health_grpc = importlib.import_module("interop_health.health_pb2_grpc")

S = pb.RequestState
O = pb.ReprocessOutcome
R = pb.ResourceDeliveryState

# --------------------------------------------------------------------------------------
# Keys, JWKS and tokens
# --------------------------------------------------------------------------------------

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
import jwt  # noqa: E402

RSA_KID = "interop-rsa-1"
EC_KID = "interop-ec-1"


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64u(n: int, length: int | None = None) -> str:
    length = length or (n.bit_length() + 7) // 8
    return _b64u(n.to_bytes(length, "big"))


class Keys:
    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_public_pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwks(self) -> dict:
        rn = self.rsa.public_key().public_numbers()
        en = self.ec.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "kid": RSA_KID, "alg": "RS256", "use": "sig",
             "n": _int_b64u(rn.n), "e": _int_b64u(rn.e)},
            {"kty": "EC", "kid": EC_KID, "alg": "ES256", "use": "sig", "crv": "P-256",
             "x": _int_b64u(en.x, 32), "y": _int_b64u(en.y, 32)},
        ]}


KEYS = Keys()


def claims(oid: str, wids=None, drop=(), **overrides) -> dict:
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "tid": TENANT, "oid": oid,
         "iat": now, "nbf": now - 5, "exp": now + 600}
    if wids is not None:
        c["wids"] = list(wids)
    for k, v in overrides.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    for k in drop:
        c.pop(k, None)
    return c


def mint(oid: str, wids=None, alg: str = "RS256", kid: str | None = None, key=None,
         headers: dict | None = None, drop=(), **overrides) -> str:
    """A signed token for `oid` with directory roles `wids`; a claim set to None is removed."""
    if alg == "RS256":
        key = key or KEYS.rsa
        kid = kid or RSA_KID
    elif alg == "ES256":
        key = key or KEYS.ec
        kid = kid or EC_KID
    else:
        raise ValueError(alg)
    h = {"kid": kid}
    if headers:
        h.update(headers)
    return jwt.encode(claims(oid, wids, drop=drop, **overrides), key, algorithm=alg, headers=h)


def unsigned_token(header: dict, payload: dict, signature: bytes = b"") -> str:
    return ".".join([_b64u(json.dumps(header).encode()), _b64u(json.dumps(payload).encode()),
                     _b64u(signature)])


def hs256_with_public_pem(oid: str, wids=None) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": RSA_KID}
    signing_input = (_b64u(json.dumps(header).encode()) + "." +
                     _b64u(json.dumps(claims(oid, wids)).encode()))
    sig = hmac.new(KEYS.rsa_public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64u(sig)


def bearer(token: str):
    return (("authorization", f"Bearer {token}"),)


ADMIN_TOKEN = None  # filled lazily


def admin_md():
    global ADMIN_TOKEN
    ADMIN_TOKEN = mint("oid-interop-admin", [GLOBAL_ADMIN])
    return bearer(ADMIN_TOKEN)


# --------------------------------------------------------------------------------------
# Fixture data (CONTRACT §4), relative to now
# --------------------------------------------------------------------------------------

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def ts(delta: dt.timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


ROLE_USERS = {
    "owner-a": ("oid-owner-a", "CATALOG_ROLE_OWNER", "cat-a"),
    "apm-a": ("oid-apm-a", "CATALOG_ROLE_ACCESS_PACKAGE_MANAGER", "cat-a"),
    "apam-a": ("oid-apam-a", "CATALOG_ROLE_ACCESS_PACKAGE_ASSIGNMENT_MANAGER", "cat-a"),
    "reader-a": ("oid-reader-a", "CATALOG_ROLE_READER", "cat-a"),
    "owner-b": ("oid-owner-b", "CATALOG_ROLE_OWNER", "cat-b"),
}


def _resources(prefix: str, states: list[str], attempts=1):
    out = []
    kinds = ["group", "application", "sharepoint"]
    for i, st in enumerate(states):
        r = {"resourceId": f"{prefix}-res-{i}", "displayName": f"Resource {i}",
             "resourceType": kinds[i % 3], "state": st, "attempts": attempts}
        if st == "RESOURCE_DELIVERY_STATE_FAILED":
            r["error"] = "timeout"
        out.append(r)
    return out


def _req(rid, ap, state, created: dt.timedelta, completed: dt.timedelta | None,
         res_states=("RESOURCE_DELIVERY_STATE_FAILED", "RESOURCE_DELIVERY_STATE_DELIVERED"),
         reprocess_count=0, created_str=None):
    r = {"id": rid, "accessPackageId": ap,
         "requestor": {"id": f"u-{rid}", "displayName": f"User {rid}",
                       "principalName": f"{rid}@contoso.example"},
         "state": state, "createdAt": created_str or ts(created),
         "resources": _resources(rid, list(res_states)), "reprocessCount": reprocess_count}
    if completed is not None:
        r["completedAt"] = ts(completed)
    return r


FAILED = "RESOURCE_DELIVERY_STATE_FAILED"
DELIVERED = "RESOURCE_DELIVERY_STATE_DELIVERED"
PENDING = "RESOURCE_DELIVERY_STATE_PENDING"


def build_fixture() -> dict:
    reqs = []
    # ap-1 (cat-a): reprocess targets. Eligible = completed 1-3 days ago, in an eligible state.
    elig_states = ["REQUEST_STATE_DELIVERY_FAILED", "REQUEST_STATE_PARTIALLY_DELIVERED",
                   "REQUEST_STATE_DELIVERED"]
    for i in range(1, 25):
        st = elig_states[i % 3]
        res = {"REQUEST_STATE_DELIVERY_FAILED": (FAILED, FAILED),
               "REQUEST_STATE_PARTIALLY_DELIVERED": (FAILED, DELIVERED, DELIVERED),
               "REQUEST_STATE_DELIVERED": (DELIVERED,)}[st]
        reqs.append(_req(f"ap1-elig-{i:02d}", "ap-1", st, -days(3) - dt.timedelta(minutes=i),
                         -days(1) - dt.timedelta(minutes=i), res))
    # Window edges.
    reqs.append(_req("ap1-just-inside", "ap-1", "REQUEST_STATE_DELIVERY_FAILED",
                     -days(8), -days(7) + dt.timedelta(hours=2)))
    reqs.append(_req("ap1-expired", "ap-1", "REQUEST_STATE_DELIVERY_FAILED",
                     -days(10), -days(7) - dt.timedelta(hours=2)))
    reqs.append(_req("ap1-expired-old", "ap-1", "REQUEST_STATE_PARTIALLY_DELIVERED",
                     -days(40), -days(30)))
    # Not eligible states (some with old completed_at: NOT_ELIGIBLE must win over WINDOW_EXPIRED).
    for st, comp in [("REQUEST_STATE_SUBMITTED", None), ("REQUEST_STATE_PENDING_APPROVAL", None),
                     ("REQUEST_STATE_DENIED", -days(20)), ("REQUEST_STATE_CANCELED", -days(1)),
                     ("REQUEST_STATE_SCHEDULED", None)]:
        name = st.split("REQUEST_STATE_")[1].lower().replace("_", "-")
        reqs.append(_req(f"ap1-{name}", "ap-1", st, -days(2), comp, (PENDING,)))
    # Imported in DELIVERING: delivered at start-up.
    reqs.append(_req("ap1-imported-delivering", "ap-1", "REQUEST_STATE_DELIVERING",
                     -days(2), -days(1), (PENDING, PENDING), reprocess_count=1))
    # ap-2 (cat-b).
    for i in range(1, 6):
        reqs.append(_req(f"ap2-elig-{i:02d}", "ap-2", "REQUEST_STATE_DELIVERY_FAILED",
                         -days(2) - dt.timedelta(minutes=i), -days(1)))
    # ap-3 (cat-a): listing only, never reprocessed. Several share a created_at (id tiebreak).
    list_states = ["REQUEST_STATE_DELIVERED", "REQUEST_STATE_DELIVERY_FAILED",
                   "REQUEST_STATE_DENIED", "REQUEST_STATE_PARTIALLY_DELIVERED",
                   "REQUEST_STATE_SUBMITTED", "REQUEST_STATE_PENDING_APPROVAL",
                   "REQUEST_STATE_CANCELED"]
    for i in range(1, 31):
        created = -days(5) + dt.timedelta(hours=(i // 3))  # groups of three share a timestamp
        st = list_states[i % len(list_states)]
        completed = None if st in ("REQUEST_STATE_SUBMITTED", "REQUEST_STATE_PENDING_APPROVAL") \
            else created + dt.timedelta(minutes=5)
        # ids deliberately not in created order
        rid = f"ap3-{(i * 7) % 31:02d}"
        reqs.append(_req(rid, "ap-3", st, created, completed, (DELIVERED,)))
    # ap-big (cat-b): enough requests to see the default and maximum page sizes.
    for i in range(1010):
        reqs.append(_req(f"big-{i:04d}", "ap-big", "REQUEST_STATE_DELIVERED",
                         -days(6) + dt.timedelta(seconds=i * 30), -days(6) + dt.timedelta(seconds=i * 30 + 60),
                         (DELIVERED,)))
    return {
        "catalogs": [{"id": "cat-a", "displayName": "Sales"},
                     {"id": "cat-b", "displayName": "Engineering"}],
        "accessPackages": [
            {"id": "ap-1", "catalogId": "cat-a", "displayName": "CRM users"},
            {"id": "ap-2", "catalogId": "cat-b", "displayName": "Build agents"},
            {"id": "ap-3", "catalogId": "cat-a", "displayName": "Sales analytics"},
            {"id": "ap-empty", "catalogId": "cat-b", "displayName": "Nobody asked"},
            {"id": "ap-big", "catalogId": "cat-b", "displayName": "Everybody asked"},
        ],
        "roleAssignments": [{"principalId": p, "role": r, "catalogId": c}
                            for (p, r, c) in ROLE_USERS.values()],
        "requests": reqs,
    }


FIXTURE = build_fixture()


def fixture_requests(ap: str) -> list[dict]:
    return [r for r in FIXTURE["requests"] if r["accessPackageId"] == ap]


# --------------------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------------------


def server_binary() -> Path:
    env = os.environ.get("ENTITLEMENT_SERVER")
    p = Path(env) if env else REPO / ".build/debug/entitlement-server"
    if not p.is_file() or not os.access(p, os.X_OK):
        raise RuntimeError(
            f"entitlement-server binary not found at {p}. Build it with "
            "`swift build --product entitlement-server` or set ENTITLEMENT_SERVER=/path/to/it.")
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workspace:
    """A temp dir holding the JWKS, the fixture and any number of data dirs."""

    def __init__(self, name="interop"):
        self.root = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.jwks = self.root / "jwks.json"
        self.jwks.write_text(json.dumps(KEYS.jwks()))
        self.fixture = self.root / "fixture.json"
        self.fixture.write_text(json.dumps(FIXTURE, indent=1))

    def data_dir(self, name="data") -> Path:
        d = self.root / name
        d.mkdir(exist_ok=True)
        return d

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


class Server:
    """One `entitlement-server` process."""

    def __init__(self, ws: Workspace, data_dir: Path, port: int | None = None,
                 import_fixture: bool | Path = True, extra=(), run_as: int | None = None,
                 unread_output: bool = False):
        self.ws = ws
        self.data_dir = data_dir
        self.port = port or free_port()
        self.addr = f"127.0.0.1:{self.port}"
        args = [str(server_binary()), "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(data_dir), "--jwks", str(ws.jwks), "--issuer", ISSUER,
                "--audience", AUDIENCE, "--tenant-id", TENANT]
        if import_fixture is True:
            args += ["--import", str(ws.fixture)]
        elif import_fixture:
            args += ["--import", str(import_fixture)]
        if "--jwks-url" in extra:  # keys from a URL instead of the workspace's JWKS file
            i = args.index("--jwks")
            del args[i:i + 2]
        args += list(extra)
        if run_as is not None:  # as that uid and gid, with no supplementary groups (needs root)
            args = ["setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--clear-groups", *args]
        self.args = args
        n = len(list(ws.root.glob("server-*.log")))
        self.log_path = ws.root / f"server-{n}.log"
        self._log = open(self.log_path, "wb")
        # unread_output: its output goes to a pipe the test reads only when it chooses (self.proc.stdout).
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE if unread_output else self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._channel = None

    def log(self, tail=4000) -> str:
        try:
            return self.log_path.read_bytes()[-tail:].decode(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before it was "
                                   f"ready; args={self.args}\n--- log ---\n{self.log()}")
            try:
                with grpc.insecure_channel(self.addr) as ch:
                    resp = health_grpc.HealthStub(ch).Check(
                        health_pb.HealthCheckRequest(service=""), timeout=1.0)
                    if resp.status == health_pb.HealthCheckResponse.SERVING:
                        return self
                    last = f"status {resp.status}"
            except grpc.RpcError as e:
                last = f"{e.code()} {e.details()}"
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server not SERVING within {timeout}s (last: {last}); "
                           f"args={self.args}\n--- log ---\n{self.log()}")

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.addr)
        return self._channel

    def stub(self):
        return pb_grpc.AccessPackageRequestsStub(self.channel)

    def health(self):
        return health_grpc.HealthStub(self.channel)

    def close_channel(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def stop(self, timeout=15.0) -> int | None:
        self.close_channel()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def kill(self):
        self.close_channel()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self._log.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_hwm_kib(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None


def start_server(ws: Workspace, data_dir: Path | None = None, **kw) -> Server:
    return Server(ws, data_dir or ws.data_dir(f"data-{uuid.uuid4().hex[:8]}"), **kw).wait_ready()


# --------------------------------------------------------------------------------------
# gRPC conveniences
# --------------------------------------------------------------------------------------


def list_all(server: Server, ap: str, md=None, states=(), page_size=1000) -> list:
    out, token = [], ""
    stub = server.stub()
    for _ in range(1000):
        resp = stub.ListRequests(pb.ListRequestsRequest(
            access_package_id=ap, states=list(states), page_size=page_size, page_token=token),
            metadata=md or admin_md(), timeout=10)
        out.extend(resp.requests)
        token = resp.next_page_token
        if not token:
            return out
    raise AssertionError("pagination did not end")


def get_request(server: Server, ap: str, rid: str, md=None):
    for r in list_all(server, ap, md):
        if r.id == rid:
            return r
    return None


def reprocess(server: Server, ap: str, ids, md=None, timeout=10):
    return server.stub().Reprocess(pb.ReprocessRequest(access_package_id=ap, request_ids=list(ids)),
                                   metadata=md or admin_md(), timeout=timeout)


def wait_state(server: Server, ap: str, rid: str, states, timeout=10.0):
    states = set(states)
    deadline = time.monotonic() + timeout
    r = None
    while time.monotonic() < deadline:
        r = get_request(server, ap, rid)
        if r is not None and r.state in states:
            return r
        time.sleep(0.1)
    raise AssertionError(f"{rid} did not reach {[S.Name(s) for s in states]} within {timeout}s; "
                         f"last: {S.Name(r.state) if r else 'missing'}")


def code_of(fn) -> grpc.StatusCode:
    try:
        fn()
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def rpc_error(fn) -> grpc.RpcError:
    try:
        fn()
    except grpc.RpcError as e:
        return e
    raise AssertionError("call succeeded but an error was expected")


# --------------------------------------------------------------------------------------
# Raw HTTP/2
# --------------------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def grpc_frame(msg: bytes, compressed: bool = False, length: int | None = None) -> bytes:
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(msg) if length is None else length) + msg


class RawFrames:
    """A raw frame-level HTTP/2 client, for abuse tests that h2 would refuse to produce."""

    def __init__(self, port: int, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.closed = False

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.closed = True
            return False

    def start(self):
        return self.send(PREFACE + frame(SETTINGS, 0, 0))

    def read_frames(self, timeout: float, stop=None):
        """Reads frames until EOF, `stop(frame)` is true, or `timeout`. Returns (frames, eof)."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            while len(self.buf) >= 9:
                ln = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + ln:
                    break
                f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
                     self.buf[9:9 + ln])
                self.buf = self.buf[9 + ln:]
                frames.append(f)
                if stop and stop(f):
                    return frames, False
            left = deadline - time.monotonic()
            if left <= 0:
                return frames, False
            self.sock.settimeout(min(left, 1.0))
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except (ConnectionResetError, OSError):
                self.closed = True
                return frames, True
            if not chunk:
                self.closed = True
                return frames, True
            self.buf += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def wait_closed(raw: RawFrames, timeout=8.0):
    """True when the server ends the connection (GOAWAY or EOF/reset) within `timeout`."""
    frames, eof = raw.read_frames(timeout, stop=lambda f: f[0] == GOAWAY)
    goaway = [f for f in frames if f[0] == GOAWAY]
    return eof or bool(goaway), frames


class H2Call:
    """Result of one raw gRPC call made with the `h2` library."""

    def __init__(self):
        self.header_blocks = []  # list of (headers dict, ended_stream)
        self.data = b""
        self.ended = False
        self.reset = None
        self.conn_terminated = None

    @property
    def headers(self) -> dict:
        return self.header_blocks[0][0] if self.header_blocks else {}

    @property
    def trailers(self) -> dict:
        return self.header_blocks[-1][0] if self.header_blocks else {}

    @property
    def status(self) -> int | None:
        v = self.trailers.get("grpc-status")
        return int(v) if v is not None else None

    @property
    def http_status(self) -> int | None:
        v = self.headers.get(":status")
        return int(v) if v is not None else None

    @property
    def trailers_only(self) -> bool:
        return len(self.header_blocks) == 1 and self.header_blocks[0][1] and not self.data

    def messages(self) -> list[tuple[int, bytes]]:
        out, b = [], self.data
        while len(b) >= 5:
            flag, ln = b[0], int.from_bytes(b[1:5], "big")
            out.append((flag, b[5:5 + ln]))
            b = b[5 + ln:]
        return out

    def __repr__(self):
        return (f"H2Call(blocks={self.header_blocks}, data={len(self.data)}B, ended={self.ended}, "
                f"reset={self.reset}, terminated={self.conn_terminated})")


class H2Client:
    """A prior-knowledge h2c client on a raw socket, built on the `h2` state machine."""

    def __init__(self, port: int, timeout=5.0):
        import h2.config
        import h2.connection

        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False,
                                        validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.flush()
        self.calls: dict[int, H2Call] = {}
        self.remote_settings = {}
        self.goaway = None
        self.eof = False
        self.pings = []

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def base_headers(self, path, token=None, content_type="application/grpc", te=True, extra=()):
        h = [(":method", "POST"), (":scheme", "http"), (":path", path),
             (":authority", f"127.0.0.1:{self.port}"), ("content-type", content_type)]
        if te:
            h.append(("te", "trailers"))
        if token:
            h.append(("authorization", f"Bearer {token}"))
        h.extend(extra)
        return h

    def _handle(self, events):
        import h2.events as ev

        for e in events:
            sid = getattr(e, "stream_id", None)
            call = self.calls.get(sid) if sid else None
            if isinstance(e, (ev.ResponseReceived, ev.TrailersReceived, ev.InformationalResponseReceived)):
                hdrs = {}
                for k, v in e.headers:
                    k = k.decode() if isinstance(k, bytes) else k
                    v = v.decode("latin-1") if isinstance(v, bytes) else v
                    hdrs[k] = v
                if call is not None:
                    call.header_blocks.append((hdrs, e.stream_ended is not None))
            elif isinstance(e, ev.DataReceived):
                if call is not None:
                    call.data += e.data
                self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, ev.StreamEnded):
                if call is not None:
                    call.ended = True
            elif isinstance(e, ev.StreamReset):
                if call is not None:
                    call.reset = e.error_code
            elif isinstance(e, ev.ConnectionTerminated):
                self.goaway = e
                for c in self.calls.values():
                    c.conn_terminated = e
            elif isinstance(e, ev.RemoteSettingsChanged):
                for k, v in e.changed_settings.items():
                    self.remote_settings[int(k)] = v.new_value
            elif isinstance(e, ev.PingReceived):
                self.pings.append(e.ping_data)

    def pump(self, until, timeout=None):
        """Reads and handles events until `until()` is true, EOF, or timeout. Returns until()."""
        import h2.exceptions

        deadline = time.monotonic() + (timeout or self.timeout)
        while not until():
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                break
            self.sock.settimeout(min(left, 1.0))
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except (ConnectionResetError, OSError):
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            try:
                self._handle(self.conn.receive_data(chunk))
            except h2.exceptions.ProtocolError:
                self.eof = True
                break
            try:
                self.flush()
            except OSError:
                self.eof = True
                break
        return until()

    def open(self, headers, end_stream=False) -> int:
        sid = self.conn.get_next_available_stream_id()
        self.calls[sid] = H2Call()
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self.flush()
        return sid

    def send_body(self, sid, body: bytes, end_stream=True):
        """Sends `body` respecting flow control; stops early if the stream ends."""
        call = self.calls[sid]
        view = memoryview(body)
        while len(view) > 0:
            if call.ended or call.reset is not None or self.eof or self.goaway:
                return False
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                import h2.events as ev  # noqa: F401
                before = self.conn.local_flow_control_window(sid)
                self.pump(lambda: self.conn.local_flow_control_window(sid) > before or call.ended
                          or call.reset is not None, timeout=self.timeout)
                if self.conn.local_flow_control_window(sid) <= 0:
                    return False
                continue
            n = min(window, len(view))
            self.conn.send_data(sid, bytes(view[:n]), end_stream=(end_stream and n == len(view)))
            view = view[n:]
            try:
                self.flush()
            except OSError:
                self.eof = True
                return False
        if len(body) == 0 and end_stream:
            self.conn.end_stream(sid)
            self.flush()
        return True

    def wait(self, sid, timeout=None) -> H2Call:
        call = self.calls[sid]
        self.pump(lambda: call.ended or call.reset is not None or self.goaway is not None,
                  timeout=timeout)
        # After a GOAWAY the stream may still complete; give it a moment.
        if not (call.ended or call.reset is not None) and self.goaway is not None:
            self.pump(lambda: call.ended or call.reset is not None, timeout=1.0)
        return call

    def call(self, path, body: bytes | None, token=None, headers=None, timeout=None,
             **hkw) -> H2Call:
        sid = self.open(headers or self.base_headers(path, token, **hkw), end_stream=body is None)
        if body is not None:
            self.send_body(sid, body)
        return self.wait(sid, timeout)

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def list_body(ap="ap-3", page_size=0, **kw) -> bytes:
    return grpc_frame(pb.ListRequestsRequest(access_package_id=ap, page_size=page_size,
                                             **kw).SerializeToString())


def health_body(service="") -> bytes:
    return grpc_frame(health_pb.HealthCheckRequest(service=service).SerializeToString())


def normal_call_works(port: int) -> bool:
    """A fresh grpcio channel can still make an authorized call."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        resp = stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-3", page_size=5),
                                 metadata=admin_md(), timeout=10)
        return len(resp.requests) == 5


def ListRequestsRequest_ok(server: "Server", token: str) -> bool:
    """Whether `token` is accepted for a ListRequests call (False for UNAUTHENTICATED)."""
    try:
        server.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                                   metadata=bearer(token), timeout=5)
        return True
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAUTHENTICATED:
            return False
        raise

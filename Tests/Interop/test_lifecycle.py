"""CONTRACT §4 and the SIGTERM / kill -9 rules of §1-2: the process as operators run it."""

import copy
import json
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import grpc
import pytest

from helpers import (FIXTURE, LIST_PATH, O, S, H2Client, admin_md, bearer, code_of, free_port,
                     get_request, list_all, list_body, mint, pb, pb_grpc, reprocess,
                     server_binary, wait_state, GLOBAL_ADMIN)

C = grpc.StatusCode
PACKAGES = ("ap-1", "ap-2", "ap-3")


def snapshot(server):
    return {ap: [r.SerializeToString() for r in list_all(server, ap)] for ap in PACKAGES} | \
        {"ap-big": len(list_all(server, "ap-big"))}


def wait_exit(server, timeout):
    try:
        return server.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


# ------------------------------------------------------------------ import


def test_import_twice_changes_nothing(launcher, workspace):
    data = workspace.data_dir("import-twice")
    a = launcher(data_dir=data)
    first = snapshot(a)
    r = reprocess(a, "ap-1", ["ap1-elig-01"]).results[0]
    assert r.outcome == O.REPROCESS_OUTCOME_ACCEPTED
    wait_state(a, "ap-1", "ap1-elig-01", [S.REQUEST_STATE_DELIVERED])
    wait_state(a, "ap-1", "ap1-imported-delivering", [S.REQUEST_STATE_DELIVERED])
    after_changes = snapshot(a)
    assert after_changes != first
    assert a.stop() == 0
    b = launcher(data_dir=data)  # same --import again
    assert snapshot(b) == after_changes, "re-importing overwrote stored requests"
    assert get_request(b, "ap-1", "ap1-elig-01").reprocess_count == 1


def _bad_fixture(workspace, name, mutate) -> Path:
    fx = copy.deepcopy(FIXTURE)
    mutate(fx)
    p = workspace.root / f"bad-{name}.json"
    p.write_text(json.dumps(fx, indent=1))
    return p


BAD_FIXTURES = {
    "bad-state-enum": (lambda fx: fx["requests"][3].__setitem__("state", "REQUEST_STATE_DELIVERD"),
                       r"requests\[3\]"),
    "bad-timestamp": (lambda fx: fx["requests"][5].__setitem__("createdAt", "yesterday"),
                      r"requests\[5\]"),
    "bad-resource-state": (lambda fx: fx["requests"][7]["resources"][0].__setitem__("state", "OK"),
                           r"requests\[7\]"),
    "bad-role": (lambda fx: fx["roleAssignments"][1].__setitem__("role", "CATALOG_ROLE_KING"),
                 r"roleAssignments\[1\]"),
    "wrong-type": (lambda fx: fx["requests"][9].__setitem__("reprocessCount", "many"),
                   r"requests\[9\]"),
    "last-request-bad": (lambda fx: fx["requests"][-1].__setitem__("state", ["REQUEST_STATE_DELIVERED"]),
                         r"requests\[%d\]" % (len(FIXTURE["requests"]) - 1)),
}


def _run_to_exit(workspace, data, fixture_path, timeout=30):
    args = [str(server_binary()), "--host", "127.0.0.1", "--port", str(free_port()),
            "--data-dir", str(data), "--import", str(fixture_path), "--jwks", str(workspace.jwks),
            "--issuer", "i", "--audience", "a", "--tenant-id", "t"]
    try:
        p = subprocess.run(args, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("server kept running with a malformed --import file")
    return p.returncode, p.stderr.decode(errors="replace"), p.stdout.decode(errors="replace")


@pytest.mark.parametrize("name", list(BAD_FIXTURES))
def test_malformed_import_exits_nonzero_naming_the_place(launcher, workspace, name):
    mutate, place = BAD_FIXTURES[name]
    data = workspace.data_dir(f"bad-import-{name}")
    rc, err, out = _run_to_exit(workspace, data, _bad_fixture(workspace, name, mutate))
    assert rc != 0
    assert re.search(place, err), f"stderr does not name {place}:\n{err}\n(stdout: {out[-500:]})"
    # nothing was imported: a normal start on the same data dir knows no packages
    s = launcher(data_dir=data, import_fixture=False)
    assert code_of(lambda: s.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1"),
                                                 metadata=admin_md(), timeout=10)) == C.NOT_FOUND


def test_import_syntax_error_exits_nonzero_with_position(launcher, workspace):
    p = workspace.root / "truncated.json"
    text = json.dumps(FIXTURE, indent=1)
    p.write_text(text[: len(text) // 2])
    data = workspace.data_dir("bad-import-syntax")
    rc, err, _ = _run_to_exit(workspace, data, p)
    assert rc != 0
    assert re.search(r"\d", err), f"no line/offset in:\n{err}"
    s = launcher(data_dir=data, import_fixture=False)
    assert code_of(lambda: s.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1"),
                                                 metadata=admin_md(), timeout=10)) == C.NOT_FOUND


def test_import_missing_file_exits_nonzero(workspace):
    rc, err, _ = _run_to_exit(workspace, workspace.data_dir("missing"), workspace.root / "nope.json")
    assert rc != 0 and "No such file or directory" in err, err
    rc, err, _ = _run_to_exit(workspace, workspace.data_dir("dir"), workspace.root)
    assert rc != 0 and "is a directory" in err, err
    rc, err, _ = _run_to_exit(workspace, workspace.data_dir("null"), "/dev/null")
    assert rc != 0 and "is empty" in err, err


def test_malformed_import_into_existing_store_changes_nothing(launcher, workspace):
    data = workspace.data_dir("bad-over-good")
    a = launcher(data_dir=data)
    before = snapshot(a)
    assert a.stop() == 0

    def mutate(fx):
        fx["requests"].append({**fx["requests"][0], "id": "new-one"})
        fx["catalogs"].append({"id": "cat-new", "displayName": "New"})
        fx["requests"][2]["state"] = "NOT_A_STATE"

    rc, err, _ = _run_to_exit(workspace, data, _bad_fixture(workspace, "over-good", mutate))
    assert rc != 0
    b = launcher(data_dir=data, import_fixture=False)
    assert snapshot(b) == before
    assert get_request(b, "ap-1", "new-one") is None


def test_import_accepts_rfc3339_fractions_and_offsets(launcher, workspace):
    fx = {"catalogs": [{"id": "cat-t", "displayName": "T"}],
          "accessPackages": [{"id": "ap-t", "catalogId": "cat-t", "displayName": "T"}],
          "roleAssignments": [],
          "requests": [{"id": "t-1", "accessPackageId": "ap-t",
                        "requestor": {"id": "u", "displayName": "U", "principalName": "u@x"},
                        "state": "REQUEST_STATE_DELIVERED",
                        "createdAt": "2026-11-20T12:00:00.5+02:00",
                        "completedAt": "2026-11-20T10:05:00.123456789Z",
                        "resources": [], "reprocessCount": 0}]}
    p = workspace.root / "rfc3339.json"
    p.write_text(json.dumps(fx))
    s = launcher(import_fixture=p)
    (r,) = list_all(s, "ap-t")
    assert r.created_at.ToJsonString() == "2026-11-20T10:00:00.500Z"
    assert (r.completed_at.seconds % 86400, r.completed_at.nanos) == (36300, 123456789)


def test_import_defaults_for_omitted_fields(launcher, workspace):
    # proto3 JSON: omitted fields are defaults (empty resources, reprocessCount 0)
    fx = {"catalogs": [{"id": "cat-o", "displayName": "O"}],
          "accessPackages": [{"id": "ap-o", "catalogId": "cat-o", "displayName": "O"}],
          "requests": [{"id": "o-1", "accessPackageId": "ap-o",
                        "state": "REQUEST_STATE_SUBMITTED", "createdAt": "2026-11-20T10:00:00Z"}]}
    p = workspace.root / "omitted.json"
    p.write_text(json.dumps(fx))
    s = launcher(import_fixture=p)
    (r,) = list_all(s, "ap-o")
    assert r.reprocess_count == 0 and len(r.resources) == 0 and not r.HasField("completed_at")


# ------------------------------------------------------------------ crash safety


def test_kill9_right_after_accepted_reprocess_resumes_delivery(launcher, workspace):
    data = workspace.data_dir("kill9")
    a = launcher(data_dir=data)
    r = reprocess(a, "ap-1", ["ap1-elig-02", "ap1-elig-03"])
    assert [x.outcome for x in r.results] == [O.REPROCESS_OUTCOME_ACCEPTED] * 2
    a.kill()  # SIGKILL
    b = launcher(data_dir=data)
    for rid in ("ap1-elig-02", "ap1-elig-03"):
        got = get_request(b, "ap-1", rid)
        assert got.reprocess_count == 1, "the acceptance was not durable"
        assert got.state in (S.REQUEST_STATE_DELIVERING, S.REQUEST_STATE_DELIVERED)
        wait_state(b, "ap-1", rid, [S.REQUEST_STATE_DELIVERED], timeout=10)


def test_kill9_during_failing_delivery_resumes(launcher, workspace):
    data = workspace.data_dir("kill9-failing")
    a = launcher(data_dir=data, extra=["--simulate-failure-rate", "1"])
    r = reprocess(a, "ap-1", ["ap1-elig-05"]).results[0]
    assert r.outcome == O.REPROCESS_OUTCOME_ACCEPTED
    time.sleep(0.1)
    a.kill()
    b = launcher(data_dir=data)  # no failures now
    got = wait_state(b, "ap-1", "ap1-elig-05", [S.REQUEST_STATE_DELIVERED], timeout=10)
    assert got.reprocess_count == 1


def test_kill9_loses_nothing_accepted_under_load(launcher, workspace):
    data = workspace.data_dir("kill9-load")
    a = launcher(data_dir=data)
    ids = [f"ap1-elig-{i:02d}" for i in range(10, 20)]
    accepted = []
    for rid in ids:
        if reprocess(a, "ap-1", [rid]).results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED:
            accepted.append(rid)
    a.kill()
    b = launcher(data_dir=data)
    for rid in accepted:
        assert get_request(b, "ap-1", rid).reprocess_count == 1, rid


# ------------------------------------------------------------------ SIGTERM


def test_sigterm_idle_exits_0(launcher):
    s = launcher()
    s.proc.send_signal(signal.SIGTERM)
    assert wait_exit(s, 15) == 0, s.log()


def test_sigterm_lets_in_flight_call_finish_and_exits_0(launcher):
    # Raw frames: the h2 library refuses to send on a connection after GOAWAY, but HTTP/2
    # lets streams at or below GOAWAY's last-stream-id complete.
    import hpack
    from helpers import (DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, SETTINGS, ACK,
                         RawFrames, frame)
    s = launcher()
    tok = mint("oid-term", [GLOBAL_ADMIN])
    raw = RawFrames(s.port, timeout=5)
    dec = hpack.Decoder()
    try:
        raw.start()
        raw.send(frame(SETTINGS, ACK, 0))
        block = hpack.Encoder().encode([
            (":method", "POST"), (":scheme", "http"), (":path", LIST_PATH),
            (":authority", s.addr), ("content-type", "application/grpc"), ("te", "trailers"),
            ("authorization", f"Bearer {tok}")])
        raw.send(frame(HEADERS, END_HEADERS, 1, block))  # in flight: body not sent yet
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGTERM)
        frames, eof = raw.read_frames(5, stop=lambda f: f[0] == GOAWAY)
        goaways = [f for f in frames if f[0] == GOAWAY]
        assert goaways, f"no GOAWAY after SIGTERM (eof={eof})"
        last_sid = int.from_bytes(goaways[0][3][:4], "big") & 0x7FFFFFFF
        assert last_sid >= 1, "GOAWAY refused the in-flight stream"
        # stop accepting: a new connection does not get a call through
        time.sleep(0.3)
        with grpc.insecure_channel(s.addr) as ch:
            code = code_of(lambda: pb_grpc.AccessPackageRequestsStub(ch).ListRequests(
                pb.ListRequestsRequest(access_package_id="ap-3"), metadata=bearer(tok),
                timeout=1.5))
        assert code != C.OK, "a new connection was served after SIGTERM"
        assert s.alive(), "server exited before the in-flight call finished"
        raw.send(frame(DATA, END_STREAM, 1, list_body(page_size=2)))
        more, eof = raw.read_frames(5, stop=lambda f: f[0] == HEADERS and f[1] & END_STREAM
                                    and f[2] == 1)
        headers, data = [], b""
        for f in frames + more:
            if f[0] == HEADERS and f[2] == 1:
                headers.append(dict((k.decode() if isinstance(k, bytes) else k,
                                     v.decode() if isinstance(v, bytes) else v)
                                    for k, v in dec.decode(f[3])))
            elif f[0] == HEADERS:
                dec.decode(f[3])
            elif f[0] == DATA and f[2] == 1:
                data += f[3]
        assert headers and headers[-1].get("grpc-status") == "0", (headers, eof)
        assert len(data) > 5
    finally:
        raw.close()
    assert wait_exit(s, 15) == 0, s.log()


def test_sigterm_grace_period_bounds_shutdown(launcher):
    s = launcher(extra=["--shutdown-grace-seconds", "2"])
    tok = mint("oid-term", [GLOBAL_ADMIN])
    c = H2Client(s.port, timeout=5)
    try:
        c.open(c.base_headers(LIST_PATH, tok))  # never completed
        time.sleep(0.2)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        rc = wait_exit(s, 12)
        took = time.monotonic() - t0
    finally:
        c.close()
    assert rc == 0, s.log()
    assert took < 6, f"shutdown took {took:.1f}s with a 2 s grace"


# ------------------------------------------------------------------ flags


def test_reprocess_window_days_flag(launcher):
    s = launcher(extra=["--reprocess-window-days", "9"])
    r = reprocess(s, "ap-1", ["ap1-expired", "ap1-expired-old"])
    assert [x.outcome for x in r.results] == [O.REPROCESS_OUTCOME_ACCEPTED,
                                              O.REPROCESS_OUTCOME_WINDOW_EXPIRED]


def test_missing_required_flags_exit_nonzero(workspace):
    p = subprocess.run([str(server_binary()), "--port", str(free_port())], capture_output=True,
                       timeout=20)
    assert p.returncode != 0 and p.stderr.strip()


def test_port_in_use_exits_nonzero(workspace, launcher):
    s = launcher()
    p = subprocess.run([str(server_binary()), "--host", "127.0.0.1", "--port", str(s.port),
                        "--data-dir", str(workspace.data_dir("port-in-use")),
                        "--jwks", str(workspace.jwks), "--issuer", "i", "--audience", "a",
                        "--tenant-id", "t"], capture_output=True, timeout=20)
    assert p.returncode != 0 and p.stderr.strip()


# ------------------------------------------------------------------ demo


JWT_RE = re.compile(rb"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def test_demo_starts_and_prints_a_working_token(server_bin):
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="interop-demo-") as d:
        proc = subprocess.Popen([str(server_bin), "--demo", "--port", str(port), "--data-dir",
                                 f"{d}/data"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=d)
        try:
            out = b""
            deadline = time.monotonic() + 30
            import os
            os.set_blocking(proc.stdout.fileno(), False)
            while time.monotonic() < deadline and not JWT_RE.search(out):
                chunk = proc.stdout.read()
                if chunk:
                    out += chunk
                elif proc.poll() is not None:
                    break
                else:
                    time.sleep(0.1)
            m = JWT_RE.search(out)
            assert m, f"no token printed:\n{out[-3000:].decode(errors='replace')}"
            token = m.group(0).decode()
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                resp = pb_grpc.AccessPackageRequestsStub(ch).ListRequests(
                    pb.ListRequestsRequest(access_package_id="ap-crm-users"),
                    metadata=bearer(token), timeout=10)
                assert len(resp.requests) > 0
            # The printed example works as it is, after the printed export.
            text = out.decode(errors="replace")
            example = next(line.strip() for line in text.splitlines() if line.strip().endswith(" health --target "
                                                                                              f"127.0.0.1:{port}"))
            done = subprocess.run(example, shell=True, capture_output=True, text=True, timeout=30,
                                  env={**os.environ, "ENTITLEMENT_TOKEN": token})
            assert done.returncode == 0 and "SERVING" in done.stdout, (example, done.stdout, done.stderr)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = None
        assert rc == 0


def test_demo_with_no_other_flags_on_default_port(server_bin):
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 50051))
        except OSError:
            pytest.skip("port 50051 is in use on this machine")
    with tempfile.TemporaryDirectory(prefix="interop-demo-") as d:
        proc = subprocess.Popen([str(server_bin), "--demo"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=d)
        try:
            deadline = time.monotonic() + 30
            ok = False
            while time.monotonic() < deadline and proc.poll() is None:
                with grpc.insecure_channel("127.0.0.1:50051") as ch:
                    from helpers import health_grpc, health_pb
                    try:
                        ok = health_grpc.HealthStub(ch).Check(health_pb.HealthCheckRequest(),
                                                              timeout=1).status == 1
                    except grpc.RpcError:
                        pass
                if ok:
                    break
                time.sleep(0.2)
            assert ok, "bare --demo did not serve on 127.0.0.1:50051"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


# ------------------------------------------------------------------ signals (swift-service-lifecycle)


def test_second_sigterm_stops_at_once_without_waiting_for_the_grace_period(launcher):
    from helpers import H2Client, LIST_PATH
    s = launcher(extra=["--shutdown-grace-seconds", "30"])
    h2 = H2Client(s.port)
    # A call whose body never comes keeps the connection (and so the drain) busy.
    h2.open(h2.base_headers(LIST_PATH), end_stream=False)
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert s.proc.poll() is None, "the first SIGTERM should drain for up to the grace period"
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    rc = wait_exit(s, 10)
    assert rc is not None and time.monotonic() - t0 < 5, "a second SIGTERM did not stop the server at once"
    assert rc == 1, f"a hard stop exits 1 (calls were cut off), got {rc}"
    h2.close()


def test_sighup_reloads_the_jwks_file(launcher, workspace):
    import json
    from cryptography.hazmat.primitives.asymmetric import rsa
    from helpers import KEYS, _int_b64u, ListRequestsRequest_ok
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = workspace.root / "rotating-jwks.json"
    jwks.write_text(json.dumps(KEYS.jwks()))
    s = launcher(extra=["--jwks", str(jwks)])
    old_token = mint("oid-rot", [GLOBAL_ADMIN])
    new_token = mint("oid-rot", [GLOBAL_ADMIN], kid="rotated-1", key=new_key)
    assert ListRequestsRequest_ok(s, old_token)
    assert not ListRequestsRequest_ok(s, new_token)
    n = new_key.public_key().public_numbers()
    jwks.write_text(json.dumps({"keys": [{"kty": "RSA", "kid": "rotated-1", "alg": "RS256", "use": "sig",
                                          "n": _int_b64u(n.n), "e": _int_b64u(n.e)}]}))
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not ListRequestsRequest_ok(s, new_token):
        time.sleep(0.1)
    assert ListRequestsRequest_ok(s, new_token), "the new key is not trusted after SIGHUP"
    assert not ListRequestsRequest_ok(s, old_token), "the removed key is still trusted after SIGHUP"
    assert s.alive()


def test_sighup_during_start_up_is_kept_not_fatal(launcher, workspace):
    # `systemctl reload` may come while a long import runs: SIGHUP's default action would kill
    # the server; it must be trapped from the start and reload once serving.
    import json
    from helpers import FIXTURE, _req, days
    big = dict(FIXTURE)
    big["requests"] = FIXTURE["requests"] + [
        _req(f"startup-{i:05d}", "ap-1", "REQUEST_STATE_DELIVERED", -days(30), -days(29)) for i in range(40_000)]
    path = workspace.root / "big-import.json"
    path.write_text(json.dumps(big))
    s = launcher(import_fixture=path, ready=False)
    time.sleep(0.5)
    import socket
    with socket.socket() as probe:
        still_starting = probe.connect_ex(("127.0.0.1", s.port)) != 0  # not listening yet
    s.proc.send_signal(signal.SIGHUP)
    s.wait_ready(timeout=120)
    assert s.alive(), "SIGHUP during start-up killed the server"
    s.stop()
    assert still_starting, "the server was serving already: the import is too small to test start-up"
    assert "SIGHUP: reloading JWKS" in s.log(), s.log()

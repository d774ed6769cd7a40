"""Several replicas on one PostgreSQL (CONTRACT §4 `--store`, Step 8): real grpcio clients against
two server processes sharing a throwaway database. Needs ENTITLEMENT_TEST_POSTGRES (a superuser
URL) and ENTITLEMENT_TEST_PG_CTL (pg_ctl for that cluster); the test command provides both."""

import json
import os
import shlex
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from helpers import FIXTURE, O, S, Server, admin_md, pb

C = grpc.StatusCode
SERVER_URL = os.environ.get("ENTITLEMENT_TEST_POSTGRES")
PG_CTL = os.environ.get("ENTITLEMENT_TEST_PG_CTL")

pytestmark = pytest.mark.skipif(not SERVER_URL, reason="ENTITLEMENT_TEST_POSTGRES is not set (scripts/test sets it)")


def psql(url, sql):
    out = subprocess.run(["psql", url, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def database_url(name):
    base, _, query = SERVER_URL.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


@pytest.fixture
def database():
    name = "replicas_" + uuid.uuid4().hex[:12]
    psql(SERVER_URL, f"CREATE DATABASE {name}")
    yield database_url(name)
    psql(SERVER_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def replicas(workspace, database):
    """start(name, latency_ms=...) → a replica on the test's database; all stopped at the end."""
    started = []

    def start(name, latency_ms=500, ready=True):
        s = Server(workspace, workspace.data_dir(f"{name}-{uuid.uuid4().hex[:6]}"),
                   extra=["--store", database, "--provisioning-latency-ms", str(latency_ms)])
        started.append(s)
        if ready:
            s.wait_ready()
        return s

    yield start
    for s in started:
        s.kill() if s.alive() else s.stop()


def wait_for_sleeping_session(url, needle, timeout=15):
    """Until a session runs a statement containing `needle` (what it locked before is held)."""
    deadline = time.monotonic() + timeout
    query = f"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%{needle}%' " \
            "AND pid <> pg_backend_pid()"
    while psql(url, query) == "0":
        assert time.monotonic() < deadline, f"no session ran {needle}"
        time.sleep(0.05)


def eligible(n, skip=0):
    ids = [r["id"] for r in FIXTURE["requests"] if r["accessPackageId"] == "ap-1" and "-elig-" in r["id"]]
    return ids[skip:skip + n]


def reprocess(server, ids, timeout=10):
    return server.stub().Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=ids),
                                   metadata=admin_md(), timeout=timeout)


def state_of(server, rid):
    page = server.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1000),
                                      metadata=admin_md(), timeout=10)
    return next(r for r in page.requests if r.id == rid)


def test_two_replicas_starting_at_once_share_one_schema(replicas, database):
    a = replicas("a", ready=False)
    b = replicas("b", ready=False)
    a.wait_ready()
    b.wait_ready()
    assert psql(database, "SELECT count(*) FROM schema_migrations") == "3"
    # Both imported the same fixture: insert-only, so it is there once.
    assert psql(database, "SELECT count(*) FROM requests") == str(len(FIXTURE["requests"]))


def test_concurrent_reprocess_of_one_id_over_both_replicas_accepts_exactly_once(replicas):
    # A long grant keeps the request DELIVERING while all 100 calls land.
    a, b = replicas("a", latency_ms=10_000), replicas("b", latency_ms=10_000)
    rid = eligible(1)[0]
    barrier = threading.Barrier(100)

    def call(i):
        barrier.wait()
        return reprocess(a if i % 2 else b, [rid], timeout=20).results[0].outcome

    with ThreadPoolExecutor(100) as pool:
        outcomes = list(pool.map(call, range(100)))
    assert outcomes.count(O.REPROCESS_OUTCOME_ACCEPTED) == 1, outcomes
    assert outcomes.count(O.REPROCESS_OUTCOME_ALREADY_IN_PROGRESS) == 99, outcomes


def test_a_reprocess_through_one_replica_is_seen_at_once_through_the_other_and_by_its_watchers(replicas):
    a, b = replicas("a", latency_ms=300), replicas("b", latency_ms=300)
    rid = eligible(1, skip=1)[0]
    watch = b.stub().WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1", request_ids=[rid],
                                                           until_settled=False), metadata=admin_md(), timeout=15)
    seen = []
    first = threading.Event()

    def read():
        try:
            for m in watch:
                seen.append(m.request)
                first.set()
                if len(seen) > 1 and m.request.state != S.REQUEST_STATE_DELIVERING:
                    return
        except grpc.RpcError as e:
            seen.append(e)
            first.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert first.wait(10), "no snapshot from the watcher on B"
    r = reprocess(a, [rid])
    assert r.results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED
    # Visible through B right away: its reads go to the shared database.
    assert state_of(b, rid).state == S.REQUEST_STATE_DELIVERING
    reader.join(15)
    watch.cancel()
    assert not any(isinstance(x, Exception) for x in seen), seen
    states = [m.state for m in seen]
    assert S.REQUEST_STATE_DELIVERING in states[1:], states
    assert states[-1] == S.REQUEST_STATE_DELIVERED, states


def test_a_killed_replicas_delivery_is_finished_by_the_other(replicas, database):
    a = replicas("a", latency_ms=60_000)  # would take a minute: it dies first
    rid = eligible(1, skip=2)[0]
    assert reprocess(a, [rid]).results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED
    deadline = time.monotonic() + 5
    while psql(database, f"SELECT lease_owner IS NOT NULL FROM requests WHERE id = '{rid}'") != "t":
        assert time.monotonic() < deadline, "A never leased the request"
        time.sleep(0.05)
    # B starts once A holds the lease (a running B could otherwise win the request first).
    b = replicas("b", latency_ms=100)
    a.kill()
    killed = time.monotonic()
    while time.monotonic() - killed < 30:
        if state_of(b, rid).state != S.REQUEST_STATE_DELIVERING:
            break
        time.sleep(0.25)
    final = state_of(b, rid)
    assert final.state == S.REQUEST_STATE_DELIVERED, f"still {final.state} 30 s after A was killed\n{b.log()}"
    assert final.reprocess_count == 1


def test_a_replica_stopped_with_sigterm_releases_its_delivery_leases(replicas, database):
    # Its worker is cancelled mid-grant; the release must still reach the database, so another
    # replica takes the request over now rather than when the lease expires.
    a = replicas("a", latency_ms=60_000)
    rid = eligible(1, skip=4)[0]
    assert reprocess(a, [rid]).results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED
    deadline = time.monotonic() + 5
    while psql(database, f"SELECT lease_owner IS NOT NULL FROM requests WHERE id = '{rid}'") != "t":
        assert time.monotonic() < deadline, "A never leased the request"
        time.sleep(0.05)
    assert a.stop() == 0
    assert "cannot release a delivery lease" not in a.log(), a.log()
    assert psql(database, f"SELECT coalesce(lease_owner, 'none') FROM requests WHERE id = '{rid}'") == "none"
    b = replicas("b", latency_ms=100)
    started = time.monotonic()
    while time.monotonic() - started < 30 and state_of(b, rid).state == S.REQUEST_STATE_DELIVERING:
        time.sleep(0.25)
    assert state_of(b, rid).state == S.REQUEST_STATE_DELIVERED


def test_audit_lines_a_kill_kept_out_of_audit_log_are_appended_at_restart(workspace, database):
    # Reprocess calls in flight when the replica is killed: some commit and never reach its
    # audit.log (the line follows the commit). Restarted on the same data dir, it appends
    # them from the shared table, so its file again holds every row it wrote.
    data_dir = workspace.data_dir(f"audit-kill-{uuid.uuid4().hex[:6]}")
    extra = ["--store", database]
    a = Server(workspace, data_dir, extra=extra).wait_ready()
    ids = [r["id"] for r in FIXTURE["requests"] if r["accessPackageId"] == "ap-1"][:10]
    stop = threading.Event()

    def hammer():
        stub = a.stub()
        while not stop.is_set():
            try:
                stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=ids),
                               metadata=admin_md(), timeout=5)
            except (grpc.RpcError, ValueError):  # killed; or its channel closed
                return

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    a.kill()
    stop.set()
    for t in threads:
        t.join(10)

    def seqs_in_file():
        lines = (data_dir / "audit.log").read_text().splitlines()
        return {json.loads(line)["seq"] for line in lines if line.startswith('{"seq":')}

    in_table = {int(x) for x in psql(database, "SELECT seq FROM audit").split()}
    assert len(in_table) > 100, "too few calls committed to test anything"
    print(f"{len(in_table)} audit rows, {len(in_table - seqs_in_file())} of them not in audit.log after kill -9")
    # Whether the kill itself lost lines is chance: lose the last five for certain, as a kill
    # between commit and write would.
    log = data_dir / "audit.log"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-5]))
    assert len(in_table - seqs_in_file()) >= 5
    a = Server(workspace, data_dir, extra=extra, import_fixture=False).wait_ready()
    try:
        assert seqs_in_file() == in_table, f"still missing after the restart: {sorted(in_table - seqs_in_file())[:5]}"
        # Nothing appended twice: concurrent commits put lines out of seq order, and a line just
        # before the file's last ones must not be taken for a missing one.
        seqs = [json.loads(line)["seq"] for line in log.read_text().splitlines() if line.startswith('{"seq":')]
        assert len(seqs) == len(set(seqs)), f"appended twice: {sorted(s for s in set(seqs) if seqs.count(s) > 1)[:5]}"
    finally:
        a.stop()
    # The log is buffered: read after the stop.
    assert "audit.log was missing lines of committed calls" in a.log(), a.log()


def test_a_package_watch_on_one_replica_sees_requests_another_replica_imports(replicas, database, workspace,
                                                                              tmp_path):
    from helpers import _req, days
    b = replicas("b")
    watch = b.stub().WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1"), metadata=admin_md(), timeout=20)
    seen = []

    def read():
        try:
            for m in watch:
                seen.append(m.request.id)
                if m.request.id == "ap1-imported-later":
                    return
        except grpc.RpcError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    # A package watch sends no snapshot: a change it reports shows it is listening.
    rid = eligible(1, skip=5)[0]
    assert reprocess(b, [rid]).results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED
    deadline = time.monotonic() + 10
    while rid not in seen:
        assert time.monotonic() < deadline, "the watch saw no change"
        time.sleep(0.05)
    fixture = tmp_path / "later.json"
    fixture.write_text(json.dumps({"requests": [
        _req("ap1-imported-later", "ap-1", "REQUEST_STATE_DELIVERED", -days(1), -days(1) + days(0.01))]}))
    c = Server(workspace, workspace.data_dir(f"c-{uuid.uuid4().hex[:6]}"), import_fixture=fixture,
               extra=["--store", database]).wait_ready()
    try:
        reader.join(15)
        watch.cancel()
        assert "ap1-imported-later" in seen, seen[-5:]
    finally:
        c.stop()


@pytest.mark.skipif(not PG_CTL, reason="ENTITLEMENT_TEST_PG_CTL is not set")
def test_postgres_restarted_under_load_unavailable_then_recovered_nothing_lost(replicas, database):
    a, b = replicas("a", latency_ms=50), replicas("b", latency_ms=50)
    ids = eligible(6, skip=3)
    stop = threading.Event()
    results = {"ok": 0, "errors": {}, "accepted": {i: 0 for i in ids}}
    lock = threading.Lock()

    def load(server, mine):
        while not stop.is_set():
            for rid in mine:
                try:
                    r = reprocess(server, [rid], timeout=8)
                    with lock:
                        results["ok"] += 1
                        if r.results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED:
                            results["accepted"][rid] += 1
                except grpc.RpcError as e:
                    with lock:
                        results["errors"][e.code()] = results["errors"].get(e.code(), 0) + 1
                time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(a, ids[:3])), threading.Thread(target=load, args=(b, ids[3:]))]
    for t in threads:
        t.start()
    time.sleep(1.5)
    before = results["ok"]
    subprocess.run(shlex.split(PG_CTL) + ["stop", "-m", "fast"], check=True, capture_output=True, timeout=60)
    # Down for longer than a database call's deadline (5 s), so calls do fail meanwhile.
    time.sleep(7)
    ok_while_down = results["ok"]
    subprocess.run(shlex.split(PG_CTL) + ["start"], check=True, capture_output=True, timeout=60)
    # The replicas reconnect by themselves.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and results["ok"] < ok_while_down + 20:
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(20)
    assert before > 0, results
    assert results["errors"], "no call failed while PostgreSQL was down"
    assert set(results["errors"]) == {C.UNAVAILABLE}, results["errors"]
    assert results["ok"] >= ok_while_down + 20, f"calls did not recover: {results}"
    # Nothing accepted is lost: every acceptance a caller saw is in the request and the audit table.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and psql(
            database, f"SELECT count(*) FROM requests WHERE state = {S.REQUEST_STATE_DELIVERING}") != "0":
        time.sleep(0.2)
    for rid in ids:
        count = int(psql(database, f"SELECT body IS NOT NULL FROM requests WHERE id = '{rid}'") == "t")
        assert count == 1
        stored = state_of(a, rid)
        audited = int(psql(database, "SELECT count(*) FROM audit, unnest(request_ids, outcomes) AS x(id, outcome) "
                                     f"WHERE x.id = '{rid}' AND x.outcome = 'REPROCESS_OUTCOME_ACCEPTED'"))
        assert stored.reprocess_count == audited >= results["accepted"][rid], (rid, stored.reprocess_count,
                                                                               audited, results["accepted"][rid])
        assert stored.state != S.REQUEST_STATE_DELIVERING


def test_the_store_can_come_from_the_environment(workspace, database, monkeypatch):
    monkeypatch.setenv("ENTITLEMENT_STORE", database)
    s = Server(workspace, workspace.data_dir(f"env-{uuid.uuid4().hex[:6]}"))
    try:
        s.wait_ready()
        assert "using the shared store" in s.log()
        assert psql(database, "SELECT count(*) FROM requests") == str(len(FIXTURE["requests"]))
    finally:
        s.stop()


@pytest.mark.parametrize("url, needle", [
    ("mysql://u@h:1/db", "must start with postgres://"),
    ("postgres://127.0.0.1:5432/db", "names no user"),
    ("postgres://u@127.0.0.1:5432", "names no database"),
    ("postgres://u@127.0.0.1:5432/db?sslmode=sometimes", "sslmode must be disable, prefer or require"),
    ("postgres://u@127.0.0.1:five/db", "PORT in digits"),
])
def test_a_bad_store_url_is_a_usage_error_saying_what_is_wrong(workspace, url, needle):
    s = Server(workspace, workspace.data_dir(f"bad-{uuid.uuid4().hex[:6]}"), extra=["--store", url])
    assert s.proc.wait(30) == 64, "a usage error exits 64 (EX_USAGE)"
    s.stop()
    assert needle in s.log(), s.log()


def test_an_unreachable_database_at_start_up_fails_naming_it(workspace):
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgres://nobody:secret@127.0.0.1:{port}/nothing?sslmode=disable"
    s = Server(workspace, workspace.data_dir(f"down-{uuid.uuid4().hex[:6]}"), extra=["--store", url])
    assert s.proc.wait(60) != 0
    s.stop()
    log = s.log()
    assert f"postgres://nobody@127.0.0.1:{port}/nothing" in log, log
    assert "secret" not in log, "the password must not be logged"


@pytest.mark.parametrize("which", ["database", "user"])
def test_a_database_that_refuses_the_login_fails_start_up_at_once_saying_why(workspace, which):
    # Not "no answer within 15 s": the server's own refusal, read from a first connection.
    base, _, query = SERVER_URL.partition("?")
    if which == "database":
        url, needle = database_url("no_such_database"), 'database "no_such_database" does not exist (SQLSTATE 3D000)'
    else:
        url = base.replace("://", "://no_such_role@", 1) if "@" not in base else \
            "postgres://no_such_role@" + base.split("@", 1)[1]
        url += "?" + query if query else ""
        needle = 'role "no_such_role" does not exist (SQLSTATE 28000)'
    s = Server(workspace, workspace.data_dir(f"refused-{uuid.uuid4().hex[:6]}"), extra=["--store", url])
    started = time.monotonic()
    assert s.proc.wait(30) != 0
    assert time.monotonic() - started < 10
    s.stop()
    assert needle in s.log(), s.log()


def test_health_turns_not_serving_while_the_database_is_down(replicas):
    if not PG_CTL:
        pytest.skip("ENTITLEMENT_TEST_PG_CTL is not set")
    from helpers import health_pb
    a = replicas("a")
    subprocess.run(shlex.split(PG_CTL) + ["stop", "-m", "fast"], check=True, capture_output=True, timeout=60)
    try:
        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline:
            status = a.health().Check(health_pb.HealthCheckRequest(service=""), timeout=3).status
            if status == health_pb.HealthCheckResponse.NOT_SERVING:
                break
            time.sleep(0.3)
        assert status == health_pb.HealthCheckResponse.NOT_SERVING
    finally:
        subprocess.run(shlex.split(PG_CTL) + ["start"], check=True, capture_output=True, timeout=60)
    a.wait_ready(timeout=20)


def test_a_reprocess_that_outlives_its_deadline_is_rolled_back_not_committed_later(replicas, database):
    """A row lock held by another session past the 5 s call deadline: the caller hears UNAVAILABLE
    ("retrying is safe"), so once the lock is freed the transaction must roll back rather than
    commit the acceptance it was told was never made."""
    a = replicas("a", latency_ms=50)
    rid = eligible(1, skip=3)[0]
    locker = subprocess.Popen(
        ["psql", database, "-Atq", "-c",
         f"BEGIN; SELECT id FROM requests WHERE id='{rid}' FOR UPDATE; SELECT pg_sleep(8); COMMIT;"],
        stdout=subprocess.DEVNULL)
    try:
        wait_for_sleeping_session(database, "pg_sleep(8)")
        with pytest.raises(grpc.RpcError) as err:
            reprocess(a, [rid], timeout=30)
        assert err.value.code() == C.UNAVAILABLE, err.value.details()
        assert "retrying is safe" in err.value.details()
    finally:
        locker.wait(timeout=30)
    time.sleep(1.5)
    after = state_of(a, rid)
    assert after.reprocess_count == 0 and after.state != pb.REQUEST_STATE_DELIVERING
    rows = psql(database, f"SELECT decision FROM audit WHERE '{rid}' = ANY(request_ids) ORDER BY seq").split()
    assert rows == ["rejected"], rows


def test_a_reprocess_whose_caller_gives_up_behind_a_row_lock_is_audited_in_the_shared_table(replicas, database):
    """The caller's deadline (2 s) passes while another session holds the row: nothing changes,
    and the call's rejected row reaches the audit table every replica reads, not only audit.log."""
    a = replicas("a", latency_ms=50)
    rid = eligible(1, skip=4)[0]
    locker = subprocess.Popen(
        ["psql", database, "-Atq", "-c",
         f"BEGIN; SELECT id FROM requests WHERE id='{rid}' FOR UPDATE; SELECT pg_sleep(5); COMMIT;"],
        stdout=subprocess.DEVNULL)
    try:
        wait_for_sleeping_session(database, "pg_sleep(5)")
        with pytest.raises(grpc.RpcError) as err:
            reprocess(a, [rid], timeout=2)
        assert err.value.code() == C.DEADLINE_EXCEEDED, err.value.details()
    finally:
        locker.wait(timeout=30)
    deadline = time.monotonic() + 5
    rows = []
    while time.monotonic() < deadline:
        rows = psql(database, f"SELECT decision || ' ' || reason FROM audit WHERE '{rid}' = ANY(request_ids)").splitlines()
        if rows:
            break
        time.sleep(0.2)
    assert len(rows) == 1 and rows[0].startswith("rejected the caller gave up"), rows
    assert state_of(a, rid).reprocess_count == 0


def test_a_replica_starts_while_another_holds_the_import_lock(replicas, database, workspace):
    # An import holds the schema's advisory lock for its whole transaction (minutes for a large
    # file); a replica starting meanwhile on an up-to-date schema has nothing to wait for.
    replicas("a")
    lock_key = 0x454E544C  # PostgresSchema.lockKey
    holder = subprocess.Popen(
        ["psql", database, "-Atq", "-c", f"SELECT pg_advisory_lock({lock_key}); SELECT pg_sleep(30);"],
        stdout=subprocess.DEVNULL)
    try:
        wait_for_sleeping_session(database, "pg_sleep(30)")
        started = time.monotonic()
        b = Server(workspace, workspace.data_dir(f"b-{uuid.uuid4().hex[:6]}"), import_fixture=False,
                   extra=["--store", database]).wait_ready(timeout=12)
        assert time.monotonic() - started < 12
        assert len(b.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=5),
                                         metadata=admin_md(), timeout=10).requests) == 5
        b.stop()
    finally:
        holder.kill()
        holder.wait(timeout=10)


@pytest.mark.skipif(not PG_CTL, reason="ENTITLEMENT_TEST_PG_CTL is not set")
def test_a_reprocess_whose_commit_loses_its_connection_may_have_been_applied(replicas, database):
    """The connection dies after COMMIT was sent and before an answer: whether it committed is
    unknown, so the caller must not hear "nothing was changed, retrying is safe"."""
    a = replicas("a", latency_ms=50)
    rid = eligible(1, skip=6)[0]
    # A deferred trigger makes COMMIT itself slow, so the backend can be killed during it.
    psql(database, """
        CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN PERFORM pg_sleep(20); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON audit DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION slow_commit();
    """)
    outcome = {}

    def call():
        try:
            reprocess(a, [rid], timeout=30)
            outcome["ok"] = True
        except grpc.RpcError as e:
            outcome["error"] = e

    caller = threading.Thread(target=call)
    caller.start()
    try:
        deadline = time.monotonic() + 10
        pid = ""
        while not pid:
            assert time.monotonic() < deadline, "COMMIT never started"
            pid = psql(database, "SELECT pid FROM pg_stat_activity WHERE query = 'COMMIT;' AND state = 'active' "
                                 "AND datname = current_database()")
            time.sleep(0.05)
        os.kill(int(pid.split()[0]), 9)  # no answer to COMMIT: the server restarts its backends
    finally:
        caller.join(30)
    deadline = time.monotonic() + 60
    while subprocess.run(["psql", database, "-Atqc", "SELECT 1"], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(0.5)
    psql(database, "DROP TRIGGER slow_commit ON audit; DROP FUNCTION slow_commit()")
    assert "error" in outcome, outcome
    err = outcome["error"]
    assert err.code() == C.DEADLINE_EXCEEDED, err.details()
    assert "may have been applied" in err.details() and "connection was lost" in err.details(), err.details()
    a.wait_ready(timeout=30)

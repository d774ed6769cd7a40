"""The deploy files: nginx (the shipped loopback config, run for real, in front of two
replicas), and structural checks of the files that cannot run here (Envoy, systemd, Docker,
Kubernetes)."""

import configparser
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest
import yaml

from helpers import GLOBAL_ADMIN, REPO, O, Server, admin_md, bearer, free_port, mint, pb, pb_grpc, start_server

C = grpc.StatusCode
DEPLOY = REPO / "deploy"


# ------------------------------------------------------------------ nginx, for real


@pytest.fixture
def two_replicas_behind_nginx(workspace, launcher):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is not installed (apt-get install nginx-light)", pytrace=False)
    a = launcher(data_dir=workspace.data_dir("replica-a"), extra=["--shutdown-grace-seconds", "5"])
    b = launcher(data_dir=workspace.data_dir("replica-b"), extra=["--shutdown-grace-seconds", "5"])
    prefix = workspace.root / "nginx-deploy"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / d).mkdir(exist_ok=True)
    port = free_port()
    upstreams = "\n".join(f"        server {s.addr} max_fails=1 fail_timeout=5s;" for s in (a, b))
    conf = (DEPLOY / "nginx/loopback.conf.template").read_text() \
        .replace("@PREFIX@", str(prefix)).replace("@LISTEN@", f"127.0.0.1:{port}").replace("@UPSTREAMS@", upstreams)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    addr = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    last = None
    while True:
        try:
            with grpc.insecure_channel(addr) as ch:
                pb_grpc.AccessPackageRequestsStub(ch).ListRequests(
                    pb.ListRequestsRequest(access_package_id="ap-1", page_size=1), metadata=admin_md(), timeout=2)
            break
        except grpc.RpcError as e:
            last = e
            if time.monotonic() > deadline or proc.poll() is not None:
                log = (prefix / "logs/error.log").read_text() if (prefix / "logs/error.log").exists() else ""
                proc.kill()
                out = proc.stdout.read().decode(errors="replace")
                pytest.fail(f"nginx not ready: {last.code()} {last.details()}\n{out}\n{log[-2000:]}", pytrace=False)
            time.sleep(0.1)
    yield a, b, addr
    proc.terminate()
    proc.wait(10)


def test_nginx_passes_calls_statuses_and_metadata_to_both_replicas(two_replicas_behind_nginx):
    a, b, addr = two_replicas_behind_nginx
    with grpc.insecure_channel(addr) as ch:
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        r, call = stub.ListRequests.with_call(pb.ListRequestsRequest(access_package_id="ap-1", page_size=3),
                                              metadata=admin_md(), timeout=5)
        assert len(r.requests) == 3
        for md, req, code in [
            ((), pb.ListRequestsRequest(access_package_id="ap-1"), C.UNAUTHENTICATED),
            (admin_md(), pb.ListRequestsRequest(access_package_id=""), C.INVALID_ARGUMENT),
            (admin_md(), pb.ListRequestsRequest(access_package_id="ap-nope"), C.NOT_FOUND),
            (bearer("x.y.z"), pb.ListRequestsRequest(access_package_id="ap-1"), C.UNAUTHENTICATED),
        ]:
            with pytest.raises(grpc.RpcError) as e:
                stub.ListRequests(req, metadata=md, timeout=5)
            assert e.value.code() == code, e.value.details()
            assert e.value.details()
        # Both replicas serve: each gets some of 20 calls over fresh connections.
    for _ in range(20):
        with grpc.insecure_channel(addr) as ch:
            pb_grpc.AccessPackageRequestsStub(ch).ListRequests(
                pb.ListRequestsRequest(access_package_id="ap-1", page_size=1), metadata=admin_md(), timeout=5)
    # Access lines reach the log through a buffer flushed every 50 ms; on a loaded machine the
    # flusher can lag the calls, so the count is awaited rather than read once.
    deadline = time.monotonic() + 5
    while True:
        served = [sum(1 for line in s.log(10_000_000).splitlines()
                      if "grpc.method=/entitlement.v1.AccessPackageRequests/ListRequests" in line and "grpc.code=OK" in line)
                  for s in (a, b)]
        if all(n > 0 for n in served) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert all(n > 0 for n in served), served


def test_sigterm_of_one_replica_under_load_loses_no_accepted_call(two_replicas_behind_nginx):
    a, b, addr = two_replicas_behind_nginx
    failures, ok = [], [0]
    stop = threading.Event()

    def load():
        with grpc.insecure_channel(addr) as ch:
            stub = pb_grpc.AccessPackageRequestsStub(ch)
            while not stop.is_set():
                try:
                    stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-big", page_size=20),
                                      metadata=admin_md(), timeout=10)
                    ok[0] += 1
                except grpc.RpcError as e:
                    failures.append((e.code(), e.details()))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    a.proc.send_signal(15)
    assert a.proc.wait(15) == 0
    before = ok[0]
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(15)
    assert ok[0] > before, "no calls went to the remaining replica"
    assert not failures, f"{len(failures)} calls failed while a replica drained: {failures[:3]}"


# ------------------------------------------------------------------ files that cannot run here


def test_nginx_answers_unavailable_not_an_html_page_when_no_replica_answers(two_replicas_behind_nginx):
    a, b, addr = two_replicas_behind_nginx
    a.kill()
    b.kill()
    with grpc.insecure_channel(addr) as ch:
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        for call in (lambda: stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-1"), metadata=admin_md(),
                                               timeout=10),
                     lambda: list(stub.WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1"),
                                                     metadata=admin_md(), timeout=10))):
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert e.value.code() == C.UNAVAILABLE and "no replica answered" in e.value.details(), \
                (e.value.code(), e.value.details())


def test_production_nginx_config_fits_the_limits():
    text = (DEPLOY / "nginx/entitlement.conf").read_text()
    for needle in ["grpc_pass grpc://", "keepalive ", "client_max_body_size 5m", "ssl_certificate ", "http2 on",
                   "grpc_read_timeout", "grpc_next_upstream", "error_page 502 503 504 = @grpc_unavailable"]:
        assert needle in text, needle
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    template = (DEPLOY / "nginx/loopback.conf.template").read_text()
    assert "@UPSTREAMS@" in template and "grpc_pass grpc://entitlement_grpc" in template
    assert Path(nginx).exists()


def _yaml_documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_envoy_config_has_h2_upstream_health_checks_retries_and_grpc_timeouts():
    (config,) = _yaml_documents(DEPLOY / "envoy/envoy.yaml")
    cluster = config["static_resources"]["clusters"][0]
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert options["explicit_http_config"]["http2_protocol_options"]["max_concurrent_streams"] == 256
    assert cluster["health_checks"][0]["grpc_health_check"]["service_name"] == "entitlement.v1.AccessPackageRequests"
    listener = config["static_resources"]["listeners"][0]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    route = hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    retry_on = route["retry_policy"]["retry_on"].split(",")
    assert "unavailable" in retry_on and "reset" not in retry_on, "a reset call may have committed a Reprocess"
    assert hcm["stream_idle_timeout"] == "3600s", "Envoy's 5-minute default would end quiet watches"
    assert route["max_stream_duration"]["grpc_timeout_header_max"]
    addresses = [e["endpoint"]["address"]["socket_address"] for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]]
    assert addresses and all(a["port_value"] == 50051 for a in addresses)
    # The names resolve in the Kubernetes deploy: its headless Service, one address per pod.
    services = {d["metadata"]["name"]: d for d in _yaml_documents(DEPLOY / "kubernetes/entitlement-postgres.yaml")
                if d["kind"] == "Service"}
    for a in addresses:
        assert a["address"] in services and services[a["address"]]["spec"].get("clusterIP") == "None", a


def test_systemd_unit_is_sandboxed_and_reloads_with_sighup():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string((DEPLOY / "systemd/entitlement-server.service").read_text())
    service = unit["Service"]
    assert service["DynamicUser"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "entitlement"
    assert "-HUP" in service["ExecReload"]
    # A credential is a copy made at start: SIGHUP would re-read the old keys.
    assert "LoadCredential" not in service and "CREDENTIALS_DIRECTORY" not in service["ExecStart"]
    assert service["KillSignal"] == "SIGTERM"
    assert "--data-dir ${STATE_DIRECTORY}" in service["ExecStart"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_server_and_client_work_as_the_unprivileged_user_the_deploy_files_run_them_as(workspace):
    """Every shipped deploy runs the server without privileges (DynamicUser, USER 10001,
    runAsUser 10001). Socket options that need CAP_NET_ADMIN (SO_DEBUG, which the TCP_NODELAY
    value means at socket level) fail there, and the connection with them."""
    uid = 10001 if os.geteuid() == 0 else None  # not root: the whole suite runs unprivileged
    if uid is not None:
        if not shutil.which("setpriv"):
            pytest.fail("setpriv (util-linux) is needed to run the server as uid 10001", pytrace=False)
        workspace.root.chmod(0o755)
    data = workspace.data_dir("unprivileged")
    if uid is not None:
        os.chown(data, uid, uid)
    s = Server(workspace, data, run_as=uid).wait_ready()
    try:
        assert s.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                                     metadata=admin_md(), timeout=5).requests
        cli = REPO / ".build/debug/entitlement"
        env = {k: v for k, v in os.environ.items() if k != "ENTITLEMENT_TOKEN"}
        env["ENTITLEMENT_TOKEN"] = mint("oid-unprivileged", [GLOBAL_ADMIN])
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid is not None else []
        out = subprocess.run([*prefix, str(cli), "list", "--target", s.addr, "--package", "ap-1", "--page-size", "1"],
                             capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0, out.stderr
    finally:
        s.stop()


def test_dockerfile_is_multi_stage_non_root_with_runtime_libraries_only():
    text = (DEPLOY / "docker/Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and " AS build" in stages[0]
    runtime = text.split(stages[1], 1)[1]
    assert "libnghttp2-14" in runtime and "-dev" not in runtime, "the runtime stage installs build packages"
    assert "USER 10001" in runtime
    assert "ENTRYPOINT" in runtime and "EXPOSE 50051 9464" in runtime
    # A key source baked in would conflict with the other one (--jwks-url vs ENTITLEMENT_JWKS).
    assert "ENTITLEMENT_JWKS" not in runtime.split("# No key source", 1)[0]


def test_the_docker_build_context_holds_every_target_directory_swiftpm_checks():
    """SwiftPM checks every target's directory when it loads the package, so a context without
    Tests/ or the benchmark's directory failed at `swift build` ("invalid custom path")."""
    dump = subprocess.run(["swift", "package", "dump-package"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert dump.returncode == 0, dump.stderr
    import json
    paths = []
    for target in json.loads(dump.stdout)["targets"]:
        default = ("Tests/" if target["type"] == "test" else "Sources/") + target["name"]
        paths.append(target.get("path") or default)
    dockerfile = (DEPLOY / "docker/Dockerfile").read_text()
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ") and "--from" not in line]
    allowed = [line[1:] for line in (DEPLOY / "docker/Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for path in paths:
        assert any(path == c or path.startswith(c + "/") for c in copied), f"{path} is not copied into the build stage"
        assert any(path == a or path.startswith(a + "/") for a in allowed), f"{path} is not in the build context"


def test_kubernetes_manifests_have_grpc_probes_secret_volume_and_pdb():
    docs = {d["kind"]: d for d in _yaml_documents(DEPLOY / "kubernetes/entitlement.yaml")}
    assert {"Deployment", "Service", "PodDisruptionBudget", "Secret", "PersistentVolumeClaim"} <= set(docs)
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["grpc"]["port"] == 50051
    # Liveness is a TCP check: health is NOT_SERVING while the store cannot commit (a full
    # disk), and restarting the pod would not help.
    assert container["livenessProbe"]["tcpSocket"]["port"] == 50051
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 50051, "metrics": 9464}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ENTITLEMENT_METRICS_PORT"] == "9464" and env["ENTITLEMENT_JWKS"].startswith("/etc/entitlement/")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["jwks"]["secret"]["secretName"] == docs["Secret"]["metadata"]["name"]
    assert "persistentVolumeClaim" in volumes["data"]
    assert docs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    service_ports = {p["name"]: p["port"] for p in docs["Service"]["spec"]["ports"]}
    assert service_ports == {"grpc": 50051, "metrics": 9464}


def test_a_store_file_the_server_cannot_write_fails_start_up_saying_so(workspace):
    # SQLite quietly opens a file it may not write read-only; serving would then fail every
    # Reprocess while health said SERVING. The start-up fails instead, naming the file.
    uid = 10001 if os.geteuid() == 0 else None
    if uid is not None:
        workspace.root.chmod(0o755)
    data = workspace.data_dir("read-only-store")
    Server(workspace, data).wait_ready().stop()
    db = data / "entitlement.sqlite3"
    for leftover in (data / "entitlement.sqlite3-wal", data / "entitlement.sqlite3-shm"):
        leftover.unlink(missing_ok=True)
    if uid is not None:  # root writes any file: run as a user the file's mode refuses
        for path in data.iterdir():
            os.chown(path, uid, uid)
        os.chown(data, uid, uid)
        os.chown(db, 0, 0)
        db.chmod(0o644)
    else:
        db.chmod(0o444)
    s = Server(workspace, data, import_fixture=False, run_as=uid)
    try:
        assert s.proc.wait(30) != 0
    finally:
        s.stop()
    assert f"{db} can be opened only read-only" in s.log(), s.log()

"""Through nginx `grpc_pass` (HTTP/2 upstream): statuses must arrive intact, including
Trailers-Only errors, which nginx only relays correctly as one HEADERS frame with END_STREAM."""

import shutil
import subprocess
import time

import grpc
import pytest

from helpers import (GLOBAL_READER, SERVICE, admin_md, bearer, code_of, free_port, health_grpc,
                     health_pb, mint, pb, pb_grpc)

C = grpc.StatusCode


@pytest.fixture(scope="module")
def nginx(server, workspace):
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if shutil.os.path.exists("/usr/sbin/nginx")
                                       else None)
    if not binary:
        pytest.fail("nginx is not installed (apt-get install nginx-light); the nginx interop "
                    "tests cannot run", pytrace=False)
    prefix = workspace.root / "nginx"
    (prefix / "logs").mkdir(parents=True)
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / d).mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream entitlement {{
        server {server.addr};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port} http2;
        location / {{
            grpc_pass grpc://entitlement;
            grpc_read_timeout 30s;
        }}
    }}
}}
""")
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    addr = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    import socket
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"nginx exited: {proc.stdout.read().decode(errors='replace')}",
                        pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield addr, prefix
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


def error_log(prefix):
    try:
        return (prefix / "logs/error.log").read_text()[-3000:]
    except OSError:
        return ""


def test_health_through_nginx(nginx):
    addr, prefix = nginx
    with grpc.insecure_channel(addr) as ch:
        resp = health_grpc.HealthStub(ch).Check(health_pb.HealthCheckRequest(service=SERVICE),
                                                timeout=10)
    assert resp.status == health_pb.HealthCheckResponse.SERVING, error_log(prefix)


def test_authorized_list_through_nginx(nginx):
    addr, prefix = nginx
    with grpc.insecure_channel(addr) as ch:
        resp = pb_grpc.AccessPackageRequestsStub(ch).ListRequests(
            pb.ListRequestsRequest(access_package_id="ap-3", page_size=1000), metadata=admin_md(),
            timeout=10)
    assert len(resp.requests) == 30


def test_large_list_through_nginx(nginx):
    addr, prefix = nginx
    with grpc.insecure_channel(addr, options=[("grpc.max_receive_message_length", 64 << 20)]) as ch:
        resp = pb_grpc.AccessPackageRequestsStub(ch).ListRequests(
            pb.ListRequestsRequest(access_package_id="ap-big", page_size=1000),
            metadata=admin_md(), timeout=10)
    assert len(resp.requests) == 1000


@pytest.mark.parametrize("case,expected", [
    ("permission-denied", C.PERMISSION_DENIED),
    ("unauthenticated", C.UNAUTHENTICATED),
    ("invalid-argument", C.INVALID_ARGUMENT),
    ("not-found", C.NOT_FOUND),
    ("unimplemented", C.UNIMPLEMENTED),
    ("health-not-found", C.NOT_FOUND),
])
def test_error_status_arrives_intact_through_nginx(nginx, case, expected):
    addr, prefix = nginx
    with grpc.insecure_channel(addr) as ch:
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        if case == "permission-denied":
            fn = lambda: stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1",  # noqa: E731
                                                            request_ids=["ap1-elig-01"]),
                                        metadata=bearer(mint("oid-r", [GLOBAL_READER])), timeout=10)
        elif case == "unauthenticated":
            fn = lambda: stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-1"),  # noqa: E731
                                           timeout=10)
        elif case == "invalid-argument":
            fn = lambda: stub.ListRequests(pb.ListRequestsRequest(access_package_id=""),  # noqa: E731
                                           metadata=admin_md(), timeout=10)
        elif case == "not-found":
            fn = lambda: stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-x"),  # noqa: E731
                                           metadata=admin_md(), timeout=10)
        elif case == "unimplemented":
            m = ch.unary_unary(f"/{SERVICE}/Nope", request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
            fn = lambda: m(b"", metadata=admin_md(), timeout=10)  # noqa: E731
        else:
            fn = lambda: health_grpc.HealthStub(ch).Check(  # noqa: E731
                health_pb.HealthCheckRequest(service="nope"), timeout=10)
        code = code_of(fn)
    assert code == expected, f"{case}: got {code}\n{error_log(prefix)}"


def test_many_calls_through_nginx_keepalive(nginx):
    addr, prefix = nginx
    with grpc.insecure_channel(addr) as ch:
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        md = admin_md()
        for i in range(30):
            req = pb.ListRequestsRequest(access_package_id="ap-3" if i % 2 else "", page_size=2)
            want = C.OK if i % 2 else C.INVALID_ARGUMENT
            assert code_of(lambda: stub.ListRequests(req, metadata=md, timeout=10)) == want, \
                error_log(prefix)


def test_upstream_connection_survives_idle(nginx):
    # nginx closes pooled upstream connections that receive a PING while idle; after an idle
    # pause the next call must still work.
    addr, prefix = nginx
    with grpc.insecure_channel(addr) as ch:
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        assert code_of(lambda: stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-3"),
                                                 metadata=admin_md(), timeout=10)) == C.OK
        time.sleep(3)
        assert code_of(lambda: stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-3"),
                                                 metadata=admin_md(), timeout=10)) == C.OK
    assert "upstream sent" not in error_log(prefix), error_log(prefix)

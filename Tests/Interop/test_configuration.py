"""CONTRACT §4: every flag can also come from ENTITLEMENT_*; a flag wins; --help lists both."""

import os
import re
import subprocess

import grpc

from helpers import (AUDIENCE, ISSUER, TENANT, admin_md, free_port, health_grpc, health_pb, pb,
                     pb_grpc, server_binary)


def _env_for(ws, data_dir, port):
    env = dict(os.environ)
    env.update({
        "ENTITLEMENT_HOST": "127.0.0.1", "ENTITLEMENT_PORT": str(port), "ENTITLEMENT_DATA_DIR": str(data_dir),
        "ENTITLEMENT_IMPORT": str(ws.fixture), "ENTITLEMENT_JWKS": str(ws.jwks), "ENTITLEMENT_ISSUER": ISSUER,
        "ENTITLEMENT_AUDIENCE": AUDIENCE, "ENTITLEMENT_TENANT_ID": TENANT,
        "ENTITLEMENT_REPROCESS_WINDOW_DAYS": "0",
    })
    return env


def _wait_serving(port, proc, timeout=30):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                r = health_grpc.HealthStub(ch).Check(health_pb.HealthCheckRequest(), timeout=1)
                if r.status == health_pb.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    raise AssertionError("not serving")


def test_every_flag_from_the_environment_and_a_flag_wins(workspace):
    env_port, flag_port = free_port(), free_port()
    env = _env_for(workspace, workspace.data_dir("env-config"), env_port)
    # --port on the command line wins over ENTITLEMENT_PORT.
    proc = subprocess.Popen([str(server_binary()), "--port", str(flag_port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_serving(flag_port, proc)
        with grpc.insecure_channel(f"127.0.0.1:{flag_port}") as ch:
            stub = pb_grpc.AccessPackageRequestsStub(ch)
            # The import came from ENTITLEMENT_IMPORT and the keys from ENTITLEMENT_JWKS.
            assert stub.ListRequests(pb.ListRequestsRequest(access_package_id="ap-1", page_size=1),
                                     metadata=admin_md(), timeout=5).requests
            # ENTITLEMENT_REPROCESS_WINDOW_DAYS=0: nothing completed in the past is in the window.
            r = stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=["ap1-elig-01"]),
                               metadata=admin_md(), timeout=5)
            assert r.results[0].outcome == pb.REPROCESS_OUTCOME_WINDOW_EXPIRED
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


def test_a_bad_environment_value_is_a_usage_error_naming_the_variable(workspace):
    env = _env_for(workspace, workspace.data_dir("env-bad"), free_port())
    env["ENTITLEMENT_MAX_CONNECTIONS"] = "lots"
    out = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "max-connections" in out.stderr
    env["ENTITLEMENT_MAX_CONNECTIONS"] = "100"
    env["ENTITLEMENT_DEMO"] = "perhaps"
    out = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "ENTITLEMENT_DEMO" in out.stderr


def test_help_lists_the_variable_of_every_flag():
    text = subprocess.run([str(server_binary()), "--help"], capture_output=True, text=True, timeout=30).stdout
    flat = re.sub(r"\s+", " ", text)
    flags = sorted(set(re.findall(r"--([a-z][a-z0-9-]+)", text)) - {"help", "tenant-id"} | {"tenant-id"})
    assert len(flags) > 15
    for flag in flags:
        variable = "ENTITLEMENT_" + flag.upper().replace("-", "_")
        assert f"[env: {variable}]" in flat, f"--help does not list {variable}"

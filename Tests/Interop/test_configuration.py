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
    assert out.returncode == 64
    assert "max-connections" in out.stderr and "ENTITLEMENT_MAX_CONNECTIONS" in out.stderr
    # Out of range, caught by validation rather than parsing: the variable is named too.
    for variable, value in (("ENTITLEMENT_MAX_CONNECTIONS", "0"), ("ENTITLEMENT_REPROCESS_WINDOW_DAYS", "-1")):
        out = subprocess.run([str(server_binary())], env={**env, "ENTITLEMENT_MAX_CONNECTIONS": "100", variable: value},
                             capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 64 and variable in out.stderr, out.stderr
    for variable in ("ENTITLEMENT_ISSUER", "ENTITLEMENT_AUDIENCE", "ENTITLEMENT_TENANT_ID"):
        out = subprocess.run([str(server_binary())], env={**env, "ENTITLEMENT_MAX_CONNECTIONS": "100", variable: ""},
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 64 and variable in out.stderr, out.stderr
    out = subprocess.run([str(server_binary()), "--issuer", ""], env={**env, "ENTITLEMENT_MAX_CONNECTIONS": "100"},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 64 and "--issuer must not be empty" in out.stderr, out.stderr
    env["ENTITLEMENT_MAX_CONNECTIONS"] = "100"
    env["ENTITLEMENT_DEMO"] = "perhaps"
    out = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "ENTITLEMENT_DEMO" in out.stderr
    # --help still works: it is how the operator finds out what the variable should hold.
    env["ENTITLEMENT_PORT"] = "eighty"
    out = subprocess.run([str(server_binary()), "--help"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "ENTITLEMENT_DEMO" in out.stdout, out.stderr


def test_help_lists_the_variable_of_every_flag():
    text = subprocess.run([str(server_binary()), "--help"], capture_output=True, text=True, timeout=30).stdout
    flat = re.sub(r"\s+", " ", text)
    flags = sorted(set(re.findall(r"--([a-z][a-z0-9-]+)", text)) - {"help", "tenant-id"} | {"tenant-id"})
    assert len(flags) > 15
    for flag in flags:
        variable = "ENTITLEMENT_" + flag.upper().replace("-", "_")
        assert f"[env: {variable}]" in flat, f"--help does not list {variable}"


# ------------------------------------------------------------------ --jwks-url


class _JWKSServer:
    """A local HTTP server for a JWKS, as an identity provider publishes it; `status` and `body`
    can be changed while it runs, and `hits` counts fetches."""

    def __init__(self, body: str):
        import http.server
        import threading
        outer = self
        self.body, self.status, self.hits = body, 200, 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                data = outer.body.encode()
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/discovery/v2.0/keys"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_jwks_from_a_url_refreshed_on_unknown_kid_keeping_the_last_good_set(launcher, workspace):
    import json
    import time
    from cryptography.hazmat.primitives.asymmetric import rsa
    from helpers import KEYS, GLOBAL_ADMIN, ListRequestsRequest_ok, _int_b64u, mint
    idp = _JWKSServer(json.dumps(KEYS.jwks()))
    try:
        s = launcher(extra=["--jwks-url", idp.url, "--jwks-refresh-seconds", "3600"])
        token = mint("oid-url", [GLOBAL_ADMIN])
        assert ListRequestsRequest_ok(s, token), "keys fetched from the URL at start-up"
        fetched = idp.hits
        # The provider rotates in a new key: a token with its kid triggers one refetch and works.
        new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = new_key.public_key().public_numbers()
        rotated = KEYS.jwks()
        rotated["keys"].append({"kty": "RSA", "kid": "rotated-2", "alg": "RS256", "use": "sig",
                                "n": _int_b64u(n.n), "e": _int_b64u(n.e)})
        idp.body = json.dumps(rotated)
        new_token = mint("oid-url", [GLOBAL_ADMIN], kid="rotated-2", key=new_key)
        assert ListRequestsRequest_ok(s, new_token), "an unknown kid did not refetch the JWKS"
        assert idp.hits == fetched + 1
        # Made-up kids do not become a flood of fetches (at most one per 30 s).
        for i in range(20):
            assert not ListRequestsRequest_ok(s, mint("oid-url", [GLOBAL_ADMIN], kid=f"made-up-{i}", key=new_key))
        assert idp.hits == fetched + 1
        # A failing provider: SIGHUP's refetch fails, the last good keys stay in force.
        idp.status = 503
        import signal
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert idp.hits >= fetched + 2
        assert ListRequestsRequest_ok(s, new_token) and ListRequestsRequest_ok(s, token)
        assert "keeping the previous keys" in s.log(1_000_000)
    finally:
        idp.close()


def test_a_jwks_url_flag_wins_over_a_jwks_file_variable(launcher, monkeypatch):
    # The container image may set ENTITLEMENT_JWKS; `docker run IMAGE --jwks-url …` must work.
    import json
    from helpers import KEYS, GLOBAL_ADMIN, ListRequestsRequest_ok, mint
    idp = _JWKSServer(json.dumps(KEYS.jwks()))
    try:
        monkeypatch.setenv("ENTITLEMENT_JWKS", "/nonexistent/jwks.json")
        s = launcher(extra=["--jwks-url", idp.url])
        assert ListRequestsRequest_ok(s, mint("oid-url", [GLOBAL_ADMIN]))
        assert idp.hits >= 1
    finally:
        idp.close()


def test_jwks_url_and_file_together_or_neither_is_a_usage_error(workspace):
    env = _env_for(workspace, workspace.data_dir("env-jwks"), free_port())
    env["ENTITLEMENT_JWKS_URL"] = "http://127.0.0.1:9/keys"
    out = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "not both" in out.stderr
    del env["ENTITLEMENT_JWKS"]
    env["ENTITLEMENT_JWKS_URL"] = "ftp://example/keys"
    out = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "http(s) URL" in out.stderr


def test_an_unreachable_jwks_url_at_start_up_fails_with_a_clear_error(workspace):
    env = _env_for(workspace, workspace.data_dir("env-jwks-down"), free_port())
    del env["ENTITLEMENT_JWKS"]
    env["ENTITLEMENT_JWKS_URL"] = f"http://127.0.0.1:{free_port()}/keys"
    out = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "cannot fetch JWKS URL" in out.stderr, out.stderr[-500:]


def test_a_jwks_url_over_tls_checks_the_certificate(workspace, tmp_path):
    # An https provider whose certificate this machine does not trust: the server refuses the
    # keys at start-up instead of using them, and says why.
    import http.server
    import ssl
    import threading
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"keys": []}'
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        env = _env_for(workspace, workspace.data_dir("env-jwks-tls"), free_port())
        del env["ENTITLEMENT_JWKS"]
        env["ENTITLEMENT_JWKS_URL"] = f"https://localhost:{httpd.server_address[1]}/keys"
        out = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        assert "cannot fetch JWKS URL" in out.stderr and "CERTIFICATE_VERIFY_FAILED" in out.stderr, out.stderr[-500:]
    finally:
        httpd.shutdown()


def test_a_jwks_url_that_redirects_says_to_give_the_final_url(workspace):
    idp = _JWKSServer("{}")
    idp.status = 301
    try:
        env = _env_for(workspace, workspace.data_dir("env-jwks-redirect"), free_port())
        del env["ENTITLEMENT_JWKS"]
        env["ENTITLEMENT_JWKS_URL"] = idp.url
        out = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        assert "HTTP status 301" in out.stderr and "give the final URL" in out.stderr, out.stderr[-500:]
    finally:
        idp.close()


def test_a_negative_number_after_a_flag_is_checked_as_a_value(workspace):
    # "--port -1" is the flag's value, refused by range, not "Missing value for --port".
    env = _env_for(workspace, workspace.data_dir("env-negative"), free_port())
    for flag, message in (("--port", "--port must be 0...65535"),
                          ("--keepalive-seconds", "--keepalive-seconds must be 0...86400"),
                          ("--simulate-failure-rate", "--simulate-failure-rate must be 0...1")):
        out = subprocess.run([str(server_binary()), flag, "-1"], env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 64 and message in out.stderr, out.stderr


def test_a_second_server_on_the_same_data_dir_refuses_to_start(workspace):
    # Two processes on one SQLite store would each accept the same request; the second one
    # exits with the reason and the first keeps serving. kill -9 of the first frees the dir.
    data_dir = workspace.data_dir("env-shared-dir")
    first_port = free_port()
    first = subprocess.Popen([str(server_binary())], env=_env_for(workspace, data_dir, first_port),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_serving(first_port, first)
        env = _env_for(workspace, data_dir, free_port())
        del env["ENTITLEMENT_IMPORT"]
        second = subprocess.run([str(server_binary())], env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode != 0
        assert f"the data directory {data_dir} is in use by another server process (pid {first.pid})" in second.stderr, \
            second.stderr[-800:]
        assert "--data-dir" in second.stderr
        _wait_serving(first_port, first)
        first.kill()
        first.wait(15)
        restarted_port = free_port()
        restarted = subprocess.Popen([str(server_binary())], env={**env, "ENTITLEMENT_PORT": str(restarted_port)},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait_serving(restarted_port, restarted)
        finally:
            restarted.terminate()
            assert restarted.wait(15) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(15)


def test_demo_with_a_real_key_source_is_a_usage_error_not_a_silent_dev_key(workspace):
    """A stray ENTITLEMENT_DEMO in a production unit's environment started the demo (its own dev
    key, an administrator's token printed, every real token refused) over the real settings."""
    env = _env_for(workspace, workspace.data_dir("env-demo"), free_port())
    for extra in ({"ENTITLEMENT_DEMO": "true"}, {"ENTITLEMENT_DEMO": "on"}):
        out = subprocess.run([str(server_binary())], env={**env, **extra}, capture_output=True, text=True, timeout=30)
        assert out.returncode == 64 and "cannot be combined with --jwks, --issuer, --audience, --tenant-id" in out.stderr, \
            out.stderr
        assert "export ENTITLEMENT_TOKEN" not in out.stdout
    bare = {k: v for k, v in os.environ.items() if not k.startswith("ENTITLEMENT_")}
    out = subprocess.run([str(server_binary()), "--demo", "--issuer", ISSUER], env=bare, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 64 and "cannot be combined with --issuer" in out.stderr, out.stderr
    # "off" is off, as "false" is: the server then asks for what it lacks.
    out = subprocess.run([str(server_binary())], env={**bare, "ENTITLEMENT_DEMO": "off"}, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 64 and "missing --data-dir" in out.stderr, out.stderr


def test_empty_host_or_data_dir_an_unbounded_grace_and_a_shared_metrics_port_are_usage_errors(workspace):
    env = _env_for(workspace, workspace.data_dir("env-nits"), free_port())
    port = env["ENTITLEMENT_PORT"]
    for args, needle in ((["--data-dir", ""], "--data-dir must not be empty"), (["--host", ""], "--host must not be empty"),
                         (["--shutdown-grace-seconds", "9223372036854775807"], "--shutdown-grace-seconds must be 0...3600"),
                         (["--metrics-port", port], "--metrics-port must differ from --port")):
        out = subprocess.run([str(server_binary()), *args], env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 64 and needle in out.stderr, (args, out.returncode, out.stderr)


def test_a_metrics_port_in_use_fails_start_up_before_it_says_serving(workspace):
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        env = _env_for(workspace, workspace.data_dir("env-metrics-taken"), free_port())
        out = subprocess.run([str(server_binary()), "--metrics-port", str(taken.getsockname()[1])], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and "cannot serve metrics" in out.stderr, out.stderr
        assert "serving gRPC" not in out.stderr, out.stderr
    finally:
        taken.close()

"""CONTRACT §1 through a real grpcio client."""

import grpc
import pytest

from helpers import (SERVICE, admin_md, code_of, health_pb, health_grpc, pb, rpc_error)

C = grpc.StatusCode


def list_req(ap="ap-3", **kw):
    return pb.ListRequestsRequest(access_package_id=ap, **kw)


def test_unary_call_succeeds(server):
    resp = server.stub().ListRequests(list_req(page_size=10), metadata=admin_md(), timeout=10)
    assert len(resp.requests) == 10
    assert resp.next_page_token


@pytest.mark.parametrize("algo", [grpc.Compression.Gzip, grpc.Compression.Deflate],
                         ids=["gzip", "deflate"])
def test_compressed_request_per_call_is_accepted(server, algo):
    resp = server.stub().ListRequests(list_req(page_size=30), metadata=admin_md(), timeout=10,
                                      compression=algo)
    assert len(resp.requests) == 30


@pytest.mark.parametrize("algo", [grpc.Compression.Gzip, grpc.Compression.Deflate],
                         ids=["gzip", "deflate"])
def test_compressed_request_channel_default_is_accepted(server, algo):
    with grpc.insecure_channel(server.addr, compression=algo) as ch:
        from helpers import pb_grpc
        stub = pb_grpc.AccessPackageRequestsStub(ch)
        # a large, compressible request (a long garbage token) proves the body was inflated
        err = rpc_error(lambda: stub.ListRequests(list_req(page_token="A" * 200_000),
                                                  metadata=admin_md(), timeout=10))
        assert err.code() == C.INVALID_ARGUMENT, err
        resp = stub.ListRequests(list_req(page_size=3), metadata=admin_md(), timeout=10)
        assert len(resp.requests) == 3


def test_3mib_request_is_received(server):
    # The token is garbage, so INVALID_ARGUMENT proves the 3 MiB message arrived and was decoded.
    err = rpc_error(lambda: server.stub().ListRequests(
        list_req(page_token="x" * (3 * 1024 * 1024)), metadata=admin_md(), timeout=20))
    assert err.code() == C.INVALID_ARGUMENT, f"{err.code()} {err.details()}"


def test_request_over_4mib_is_resource_exhausted(server):
    err = rpc_error(lambda: server.stub().ListRequests(
        list_req(page_token="x" * (4 * 1024 * 1024 + 16)), metadata=admin_md(), timeout=20))
    assert err.code() == C.RESOURCE_EXHAUSTED, f"{err.code()} {err.details()}"
    # and the channel still works
    assert code_of(lambda: server.stub().ListRequests(list_req(), metadata=admin_md(),
                                                      timeout=10)) == C.OK


def test_gzip_request_over_4mib_after_inflating_is_resource_exhausted(server):
    err = rpc_error(lambda: server.stub().ListRequests(
        list_req(page_token="x" * (5 * 1024 * 1024)), metadata=admin_md(), timeout=20,
        compression=grpc.Compression.Gzip))
    assert err.code() == C.RESOURCE_EXHAUSTED, f"{err.code()} {err.details()}"


def test_200_concurrent_calls_on_one_channel(server):
    stub = server.stub()
    md = admin_md()
    futures = [stub.ListRequests.future(list_req(page_size=5), metadata=md, timeout=30)
               for _ in range(200)]
    for f in futures:
        f.exception(timeout=60)
    codes = [f.code() for f in futures]
    assert codes.count(C.OK) == 200, {c: codes.count(c) for c in set(codes)}
    assert all(len(f.result().requests) == 5 for f in futures)


def test_tiny_deadline_is_deadline_exceeded(server):
    # grpcio rounds a 1 µs timeout up to `grpc-timeout: 1m` (or sends 1n); either way the call has
    # under a millisecond left when it arrives, so the server runs nothing and answers
    # DEADLINE_EXCEEDED, every time.
    stub, md = server.stub(), admin_md()
    codes = [code_of(lambda: stub.ListRequests(list_req(), metadata=md, timeout=0.000001))
             for _ in range(10)]
    assert codes == [C.DEADLINE_EXCEEDED] * 10, codes


def test_generous_deadline_succeeds(server):
    assert code_of(lambda: server.stub().ListRequests(list_req(), metadata=admin_md(),
                                                      timeout=30)) == C.OK


def test_custom_request_metadata_is_accepted_and_response_metadata_readable(server):
    md = admin_md() + (("x-interop-trace", "abc-123"), ("x-interop-bin", b"\x00\x01\xff"),
                       ("x-request-id", "r" * 200))
    resp, call = server.stub().ListRequests.with_call(list_req(page_size=1), metadata=md,
                                                      timeout=10)
    assert len(resp.requests) == 1
    assert call.code() == C.OK
    initial = call.initial_metadata()
    trailing = call.trailing_metadata()
    assert initial is not None and trailing is not None
    for k, _ in list(initial) + list(trailing):
        assert k == k.lower()


def test_error_metadata_readable(server):
    err = rpc_error(lambda: server.stub().ListRequests(list_req(ap=""), metadata=admin_md(),
                                                       timeout=10))
    assert err.code() == C.INVALID_ARGUMENT
    assert err.trailing_metadata() is not None
    assert err.details()


def _raw(server, path):
    return server.channel.unary_unary(path, request_serializer=lambda b: b,
                                      response_deserializer=lambda b: b)


def test_unknown_method_is_unimplemented(server):
    err = rpc_error(lambda: _raw(server, f"/{SERVICE}/Nope")(b"", metadata=admin_md(), timeout=10))
    assert err.code() == C.UNIMPLEMENTED


def test_unknown_service_is_unimplemented(server):
    err = rpc_error(lambda: _raw(server, "/entitlement.v1.Nope/ListRequests")(
        b"", metadata=admin_md(), timeout=10))
    assert err.code() == C.UNIMPLEMENTED


def test_unknown_method_without_token_is_unimplemented(server):
    err = rpc_error(lambda: _raw(server, "/no.such.Service/Method")(b"", timeout=10))
    assert err.code() == C.UNIMPLEMENTED


@pytest.mark.parametrize("name", ["", SERVICE])
def test_health_serving_without_token(server, name):
    resp = server.health().Check(health_pb.HealthCheckRequest(service=name), timeout=10)
    assert resp.status == health_pb.HealthCheckResponse.SERVING


def test_health_serving_with_a_token_too(server):
    resp = server.health().Check(health_pb.HealthCheckRequest(service=""), metadata=admin_md(),
                                 timeout=10)
    assert resp.status == health_pb.HealthCheckResponse.SERVING


@pytest.mark.parametrize("name", ["entitlement.v1.Nope", "grpc.health.v1.Health.x"])
def test_health_unknown_service_is_not_found(server, name):
    err = rpc_error(lambda: server.health().Check(health_pb.HealthCheckRequest(service=name),
                                                  timeout=10))
    assert err.code() == C.NOT_FOUND


def test_health_compressed_request(server):
    resp = server.health().Check(health_pb.HealthCheckRequest(service=SERVICE), timeout=10,
                                 compression=grpc.Compression.Gzip)
    assert resp.status == health_pb.HealthCheckResponse.SERVING


def test_large_response_decodes_with_compression_offered(server):
    # grpcio offers identity,deflate,gzip; whatever the server picks must decode.
    resp = server.stub().ListRequests(list_req(page_size=1000), metadata=admin_md(), timeout=10)
    assert len(resp.requests) == 30


def test_channel_survives_errors(server):
    stub = server.stub()
    for _ in range(20):
        assert code_of(lambda: stub.ListRequests(list_req(ap=""), metadata=admin_md(),
                                                 timeout=10)) == C.INVALID_ARGUMENT
    assert code_of(lambda: stub.ListRequests(list_req(), metadata=admin_md(), timeout=10)) == C.OK

"""Streaming RPCs with real grpcio clients: WatchRequests (CONTRACT §2), Health/Watch and server
reflection (what grpcurl does: list, fetch descriptors with dependencies, build a request from
them alone and call the method)."""

import asyncio
import threading
import time

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from helpers import (FIXTURE, GLOBAL_ADMIN, O, S, admin_md, bearer, health_grpc, health_pb, mint,
                     pb, pb_grpc, wait_state)

C = grpc.StatusCode


def eligible(ap="ap-1", n=3, skip=0):
    ids = [r["id"] for r in FIXTURE["requests"] if r["accessPackageId"] == ap and "-elig-" in r["id"]]
    return ids[skip:skip + n]


def read_all(call, into):
    try:
        for m in call:
            into.append(m.request)
    except grpc.RpcError as e:
        into.append(e)


# ------------------------------------------------------------------ WatchRequests


def test_watch_snapshot_then_changes_until_settled(server):
    ids = eligible(skip=10)
    stub = server.stub()
    r = stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=ids), metadata=admin_md(), timeout=10)
    assert [x.outcome for x in r.results] == [O.REPROCESS_OUTCOME_ACCEPTED] * len(ids)
    call = stub.WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1", request_ids=ids,
                                                      until_settled=True), metadata=admin_md(), timeout=20)
    got = []
    read_all(call, got)
    assert not any(isinstance(x, Exception) for x in got), got[-1]
    assert [m.id for m in got[:len(ids)]] == ids, "the snapshot is one message per id, in order"
    # Delivery takes a grant's latency (500 ms): the snapshot shows the requests DELIVERING.
    assert all(m.state == S.REQUEST_STATE_DELIVERING for m in got[:len(ids)])
    final = {}
    for m in got:
        final[m.id] = m
    assert all(final[i].state == S.REQUEST_STATE_DELIVERED for i in ids), final
    assert call.code() == C.OK
    # Attempts are changes too: each resource's attempt shows up before the settlement.
    assert len(got) > 2 * len(ids)


def test_watch_until_settled_ends_at_once_when_nothing_is_delivering(server):
    ids = [r["id"] for r in FIXTURE["requests"] if r["accessPackageId"] == "ap-3"][:2]
    call = server.stub().WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-3", request_ids=ids,
                                                               until_settled=True), metadata=admin_md(), timeout=5)
    got = [m.request.id for m in call]
    assert got == ids
    assert call.code() == C.OK


def test_package_watch_sees_every_change_from_the_start(server):
    ids = eligible(skip=14, n=2)
    stub = server.stub()
    call = stub.WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1"), metadata=admin_md(), timeout=6)
    got = []
    t = threading.Thread(target=read_all, args=(call, got))
    t.start()
    time.sleep(0.3)
    stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=ids), metadata=admin_md(), timeout=10)
    t.join(10)
    assert isinstance(got[-1], grpc.RpcError) and got[-1].code() == C.DEADLINE_EXCEEDED
    changes = [m for m in got[:-1]]
    assert set(ids) <= {m.id for m in changes}
    assert all(m.access_package_id == "ap-1" for m in changes), "only changes of the watched package"
    for i in ids:
        assert [m.state for m in changes if m.id == i][-1] == S.REQUEST_STATE_DELIVERED


def test_a_package_watch_answers_with_headers_before_any_change(server):
    """A quiet watch showed a client and a proxy nothing until the first change: grpcio's
    initial_metadata() blocked, and nginx ended it when its read timeout passed (504)."""
    call = server.stub().WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-empty"), metadata=admin_md(),
                                       timeout=30)
    done = threading.Event()
    threading.Thread(target=lambda: (call.initial_metadata(), done.set()), daemon=True).start()
    try:
        assert done.wait(10), "no response headers while the package was quiet"
    finally:
        call.cancel()


@pytest.mark.parametrize("request_kw, code, needle", [
    (dict(access_package_id=""), C.INVALID_ARGUMENT, "access_package_id"),
    (dict(access_package_id="ap-nope"), C.NOT_FOUND, "ap-nope"),
    (dict(access_package_id="ap-1", request_ids=["ap1-elig-01", "nope-7"]), C.NOT_FOUND, "nope-7"),
    (dict(access_package_id="ap-1", request_ids=["big-0001"]), C.NOT_FOUND, "big-0001"),
    (dict(access_package_id="ap-1", until_settled=True), C.INVALID_ARGUMENT, "until_settled"),
    (dict(access_package_id="ap-1", request_ids=["a", "a"]), C.INVALID_ARGUMENT, "duplicates"),
    (dict(access_package_id="ap-1", request_ids=[f"r{i}" for i in range(101)]), C.INVALID_ARGUMENT, "0 to 100"),
    (dict(access_package_id="ap-1", request_ids=[""]), C.INVALID_ARGUMENT, "empty"),
])
def test_watch_argument_errors_come_before_any_message(server, request_kw, code, needle):
    call = server.stub().WatchRequests(pb.WatchRequestsRequest(**request_kw), metadata=admin_md(), timeout=5)
    with pytest.raises(grpc.RpcError) as e:
        list(call)
    assert e.value.code() == code, e.value.details()
    assert needle in e.value.details()


def test_watch_needs_a_token_and_list_permission(server):
    stub = server.stub()
    req = pb.WatchRequestsRequest(access_package_id="ap-1", request_ids=["ap1-elig-01"])
    for md, code in [((), C.UNAUTHENTICATED), (bearer("nope"), C.UNAUTHENTICATED),
                     (bearer(mint("oid-owner-b")), C.PERMISSION_DENIED),  # owner of another catalog
                     (bearer(mint("oid-nobody")), C.PERMISSION_DENIED)]:
        with pytest.raises(grpc.RpcError) as e:
            list(stub.WatchRequests(req, metadata=md, timeout=5))
        assert e.value.code() == code
        if code == C.PERMISSION_DENIED:
            # The refusal names the method called, with the roles it shares with ListRequests.
            assert e.value.details().startswith("WatchRequests "), e.value.details()
    # A catalog READER of the package's catalog may watch, as it may list.
    call = stub.WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1", request_ids=["ap1-elig-01"],
                                                      until_settled=True),
                              metadata=bearer(mint("oid-reader-a")), timeout=5)
    assert [m.request.id for m in call] == ["ap1-elig-01"]


def test_open_watches_end_unavailable_on_sigterm_and_health_watch_sees_not_serving(launcher):
    s = launcher(extra=["--shutdown-grace-seconds", "5"])
    watch = s.stub().WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1"), metadata=admin_md(), timeout=20)
    health = s.health().Watch(health_pb.HealthCheckRequest(service=""), timeout=20)
    statuses, watch_end = [], []
    th = threading.Thread(target=lambda: statuses.extend(_statuses(health)))
    tw = threading.Thread(target=read_all, args=(watch, watch_end))
    th.start()
    tw.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    s.proc.send_signal(15)
    th.join(10)
    tw.join(10)
    rc = s.proc.wait(15)
    assert rc == 0
    assert statuses[0] == health_pb.HealthCheckResponse.SERVING
    assert health_pb.HealthCheckResponse.NOT_SERVING in statuses, statuses
    assert isinstance(watch_end[-1], grpc.RpcError) and watch_end[-1].code() == C.UNAVAILABLE, watch_end
    assert time.monotonic() - t0 < 5, "open streams held the shutdown for the whole grace period"


def _statuses(call):
    out = []
    try:
        for m in call:
            out.append(m.status)
    except grpc.RpcError as e:
        out.append(e.code())
    return out


def test_health_watch_unknown_service_is_service_unknown(server):
    call = server.health().Watch(health_pb.HealthCheckRequest(service="nope.Service"), timeout=1.5)
    got = _statuses(call)
    assert got[0] == health_pb.HealthCheckResponse.SERVICE_UNKNOWN
    assert got[-1] == C.DEADLINE_EXCEEDED  # the stream stays open: the name may appear later


# ------------------------------------------------------------------ reflection


def _reflect(channel, version, requests):
    if version == "v1":
        rpb, rgrpc = _v1_modules()
    else:
        from grpc_reflection.v1alpha import reflection_pb2 as rpb, reflection_pb2_grpc as rgrpc
    stub = rgrpc.ServerReflectionStub(channel)
    return rpb, list(stub.ServerReflectionInfo(iter([rpb.ServerReflectionRequest(**r) for r in requests]),
                                               timeout=10))


def _v1_modules():
    """grpcio-reflection ships v1alpha only: compile the v1 client from the project's proto."""
    import importlib
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    from grpc_tools import protoc
    from helpers import PROTO_DIR

    if "interop_reflection.v1.reflection_pb2" not in sys.modules:
        root = Path(tempfile.mkdtemp(prefix="interop-reflection-"))
        (root / "interop_reflection" / "v1").mkdir(parents=True)
        shutil.copy(PROTO_DIR / "grpc/reflection/v1/reflection.proto", root / "interop_reflection/v1/")
        rc = protoc.main(["protoc", f"-I{root}", f"--python_out={root}", f"--grpc_python_out={root}",
                          str(root / "interop_reflection/v1/reflection.proto")])
        assert rc == 0
        sys.path.insert(0, str(root))
    return (importlib.import_module("interop_reflection.v1.reflection_pb2"),
            importlib.import_module("interop_reflection.v1.reflection_pb2_grpc"))


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_services_and_serves_files_with_dependencies(server, version):
    with grpc.insecure_channel(server.addr) as ch:
        rpb, answers = _reflect(ch, version, [
            dict(list_services=""),
            dict(file_containing_symbol="entitlement.v1.AccessPackageRequests"),
            dict(file_by_filename="grpc/health/v1/health.proto"),
            dict(file_containing_symbol="entitlement.v1.AccessPackageRequest"),
            dict(file_containing_symbol="entitlement.v1.AccessPackageRequests.WatchRequests"),
            dict(file_containing_symbol="entitlement.v1.RequestState"),
            dict(file_containing_symbol="no.such.Symbol"),
            dict(file_by_filename="no/such.proto"),
        ])
    names = [s.name for s in answers[0].list_services_response.service]
    assert "entitlement.v1.AccessPackageRequests" in names and "grpc.health.v1.Health" in names
    assert "grpc.reflection.v1.ServerReflection" in names and "grpc.reflection.v1alpha.ServerReflection" in names
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in answers[1].file_descriptor_response.file_descriptor_proto]
    assert [f.name for f in files] == ["entitlement/v1/access_requests.proto", "google/protobuf/timestamp.proto"]
    assert answers[2].file_descriptor_response.file_descriptor_proto
    for a in answers[3:6]:
        assert a.WhichOneof("message_response") == "file_descriptor_response"
    for a in answers[6:]:
        assert a.WhichOneof("message_response") == "error_response"
        assert a.error_response.error_code == 5  # NOT_FOUND
    assert answers[6].original_request.file_containing_symbol == "no.such.Symbol"


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_resolves_fields_oneofs_and_enum_values(server, version):
    """`grpcurl describe` of a field or an enum value, as grpc-go and C++ reflection answer it."""
    symbols = ["entitlement.v1.Subject.display_name", "entitlement.v1.AccessPackageRequest.created_at",
               "entitlement.v1.REQUEST_STATE_DELIVERED", "grpc.health.v1.HealthCheckResponse.SERVING",
               "grpc.health.v1.HealthCheckResponse.ServingStatus"]
    with grpc.insecure_channel(server.addr) as ch:
        _, answers = _reflect(ch, version, [dict(file_containing_symbol=s) for s in symbols]
                              + [dict(file_containing_symbol="entitlement.v1.RequestState.REQUEST_STATE_DELIVERED")])
    for symbol, answer in zip(symbols, answers):
        assert answer.WhichOneof("message_response") == "file_descriptor_response", symbol
        first = descriptor_pb2.FileDescriptorProto.FromString(answer.file_descriptor_response.file_descriptor_proto[0])
        assert first.package == symbol.rsplit(".", 2)[0] or symbol.startswith(first.package + "."), symbol
    # Enum values are scoped beside their enum, not inside it.
    assert answers[-1].error_response.error_code == 5


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_extension_numbers_only_of_message_types(server, version):
    """all_extension_numbers_of_type: a message (nested too) has none here; a service, an enum or
    a field is no message type, NOT_FOUND as grpc C++ answers; so is an unknown name."""
    names = ["entitlement.v1.AccessPackageRequest", "entitlement.v1.ListRequestsRequest",
             "entitlement.v1.AccessPackageRequests", "entitlement.v1.RequestState",
             "entitlement.v1.Subject.display_name", "no.such.Type"]
    with grpc.insecure_channel(server.addr) as ch:
        _, answers = _reflect(ch, version, [dict(all_extension_numbers_of_type=n) for n in names])
    for name, answer in zip(names[:2], answers):
        assert answer.WhichOneof("message_response") == "all_extension_numbers_response", name
        assert answer.all_extension_numbers_response.base_type_name == name
        assert not answer.all_extension_numbers_response.extension_number
    for name, answer in zip(names[2:], answers[2:]):
        assert answer.error_response.error_code == 5, (name, answer)
    assert "is not a message type" in answers[2].error_response.error_message


def test_request_built_from_reflected_descriptors_alone_works(server):
    """What grpcurl does: no generated code, only what reflection returns."""
    with grpc.insecure_channel(server.addr) as ch:
        from grpc_reflection.v1alpha import reflection_pb2 as rpb, reflection_pb2_grpc as rgrpc
        stub = rgrpc.ServerReflectionStub(ch)
        answer = next(iter(stub.ServerReflectionInfo(
            iter([rpb.ServerReflectionRequest(file_containing_symbol="entitlement.v1.AccessPackageRequests")]),
            timeout=10)))
        pool = descriptor_pool.DescriptorPool()
        protos = [descriptor_pb2.FileDescriptorProto.FromString(b)
                  for b in answer.file_descriptor_response.file_descriptor_proto]
        for fd in reversed(protos):  # dependencies first
            pool.Add(fd)
        service = pool.FindServiceByName("entitlement.v1.AccessPackageRequests")
        method = service.methods_by_name["ListRequests"]
        Request = message_factory.GetMessageClass(method.input_type)
        Response = message_factory.GetMessageClass(method.output_type)
        call = ch.unary_unary(f"/{service.full_name}/{method.name}",
                              request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=Response.FromString)
        response = call(Request(access_package_id="ap-1", page_size=3), metadata=admin_md(), timeout=10)
        assert len(response.requests) == 3
        assert response.requests[0].access_package_id == "ap-1"


def test_reflection_needs_no_token(server):
    with grpc.insecure_channel(server.addr) as ch:
        _, answers = _reflect(ch, "v1alpha", [dict(list_services="")])
    assert answers[0].list_services_response.service


# ------------------------------------------------------------------ many watchers


def test_thousand_watchers_all_see_a_reprocess_within_a_second(launcher):
    s = launcher()
    target = eligible(skip=17, n=1)[0]
    rss_before = s.rss_hwm_kib()
    seen_after = {}

    async def run():
        # Five connections (grpcio would otherwise share one subchannel, and the server allows
        # 256 streams per connection).
        channels = [grpc.aio.insecure_channel(s.addr, options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(5)]
        md = admin_md()
        ready = asyncio.Event()
        started = 0
        t_reprocess = {}

        async def watcher(i):
            nonlocal started
            stub = pb_grpc.AccessPackageRequestsStub(channels[i % len(channels)])
            call = stub.WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1", request_ids=[target]),
                                      metadata=md, timeout=60)
            first = True
            async for m in call:
                if first:
                    first = False
                    started += 1
                    if started == 1000:
                        ready.set()
                    continue
                if m.request.state == S.REQUEST_STATE_DELIVERING:
                    seen_after[i] = time.monotonic() - t_reprocess["t"]
                    call.cancel()
                    return

        tasks = [asyncio.create_task(watcher(i)) for i in range(1000)]
        await asyncio.wait_for(ready.wait(), 60)
        rss = s.rss_hwm_kib()
        t_reprocess["t"] = time.monotonic()
        stub = pb_grpc.AccessPackageRequestsStub(channels[0])
        r = await stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=[target]),
                                 metadata=md, timeout=10)
        assert r.results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        for ch in channels:
            await ch.close()
        return rss

    rss_with_watchers = asyncio.run(run())
    assert len(seen_after) == 1000, f"only {len(seen_after)} of 1000 watchers saw the change"
    slowest = max(seen_after.values())
    print(f"\n1000 watchers: RSS {rss_before} -> {rss_with_watchers} KiB; slowest saw the change after {slowest * 1000:.0f} ms")
    assert slowest < 1.0, f"slowest watcher saw the change after {slowest:.2f} s"
    assert rss_with_watchers - rss_before < 64 * 1024, "1000 watch streams cost more than 64 MiB"


# ------------------------------------------------------------------ CLI


def _cli(*args, timeout=30):
    import os
    import subprocess

    from helpers import REPO, mint as _mint
    binary = REPO / ".build/debug/entitlement"
    if not binary.exists():
        pytest.fail(f"{binary} is not built (swift build --product entitlement)")
    env = dict(os.environ, ENTITLEMENT_TOKEN=_mint("oid-cli", [GLOBAL_ADMIN]))
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_reprocess_wait_prints_the_settled_state(server):
    ids = eligible(skip=20, n=2)
    out = _cli("reprocess", "--port", str(server.port), "--package", "ap-1", "--wait", *ids)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(ids[0]) and "REPROCESS_OUTCOME_ACCEPTED" in lines[0]
    settled = lines[lines.index("settled:") + 1:]
    assert [line.split()[0] for line in settled] == ids
    assert all("REQUEST_STATE_DELIVERED" in line for line in settled), settled


def test_cli_reprocess_wait_that_fails_prints_no_settled_header(launcher):
    # The watch ends DEADLINE_EXCEEDED long before a 10 s grant: the output must not claim that
    # anything settled, and says the reprocess itself went through.
    s = launcher(extra=["--provisioning-latency-ms", "10000"])
    ids = eligible(skip=0, n=1)  # a server of its own
    out = _cli("reprocess", "--port", str(s.port), "--package", "ap-1", "--timeout", "1", "--wait", *ids)
    assert out.returncode != 0
    assert "REPROCESS_OUTCOME_ACCEPTED" in out.stdout and "settled:" not in out.stdout, out.stdout + out.stderr
    assert "1 accepted; waiting for them to settle failed" in out.stderr and "DEADLINE_EXCEEDED" in out.stderr, out.stderr


def test_cli_watch_prints_changes_and_stops_when_settled(server):
    ids = eligible(skip=23, n=1)
    server.stub().Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=ids), metadata=admin_md(),
                            timeout=10)
    out = _cli("watch", "--port", str(server.port), "--package", "ap-1", "--until-settled", *ids)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(ids[0]) and "REQUEST_STATE_DELIVERING" in lines[0]
    assert "REQUEST_STATE_DELIVERED" in lines[-1]
    assert "attempts" not in lines[-1] and "/" in lines[-1]  # resource=STATE/attempts


def test_cli_watch_errors_exit_1_with_the_status(server):
    out = _cli("watch", "--port", str(server.port), "--package", "ap-nope", "x")
    assert out.returncode == 1
    assert out.stderr.startswith("error: NOT_FOUND:"), out.stderr
    out = _cli("watch", "--port", str(server.port), "--package", "ap-1", "--until-settled")
    assert out.returncode != 0 and "--until-settled needs request ids" in out.stderr

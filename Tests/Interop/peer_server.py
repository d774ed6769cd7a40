"""A grpcio server implementing the contract's services, for testing the project's Swift client
against a real peer (Tests/H2TransportTests/Client/GRPCioPeerTests.swift starts it).

Prints `READY <port>` once it listens on 127.0.0.1, then serves until stdin closes or it is
killed. Behaviour is steered by the request:
- ListRequests echoes `page_token` into `next_page_token`, returns `page_size` requests, and
  echoes `x-echo` request metadata as response header and trailer;
- Reprocess with access_package_id `fail-<code>` aborts with that status and a non-ASCII message,
  `slow` sleeps 2 s (for deadlines), anything else returns one ACCEPTED result per id;
- WatchRequests streams one message per request id, then aborts with FAILED_PRECONDITION if
  `until_settled` is false and the package is `fail`, else ends OK;
- Health/Watch sends SERVING, then NOT_SERVING, then ends.
"""

import sys
import threading
import time
from concurrent import futures
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grpc  # noqa: E402
from helpers import health_grpc, health_pb, pb, pb_grpc  # noqa: E402


class Requests(pb_grpc.AccessPackageRequestsServicer):
    def ListRequests(self, request, context):
        echo = dict(context.invocation_metadata()).get("x-echo")
        if echo:
            context.send_initial_metadata((("x-echo-header", echo),))
            context.set_trailing_metadata((("x-echo-trailer", echo),))
        response = pb.ListRequestsResponse(next_page_token=request.page_token)
        for i in range(request.page_size):
            response.requests.add(id=f"req-{i}", access_package_id=request.access_package_id,
                                  state=pb.REQUEST_STATE_DELIVERED)
        return response

    def Reprocess(self, request, context):
        ap = request.access_package_id
        if ap.startswith("fail-"):
            context.abort(grpc.StatusCode(_code(int(ap[5:]))), "failed on purpose: ünïcödé 100%")
        if ap == "slow":
            time.sleep(2)
        return pb.ReprocessResponse(results=[
            pb.ReprocessResult(request_id=i, outcome=pb.REPROCESS_OUTCOME_ACCEPTED) for i in request.request_ids])

    def WatchRequests(self, request, context):
        for i in request.request_ids:
            yield pb.WatchRequestsResponse(request=pb.AccessPackageRequest(
                id=i, access_package_id=request.access_package_id, state=pb.REQUEST_STATE_DELIVERING))
        if request.access_package_id == "fail" and not request.until_settled:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "stream failed on purpose")


class Health(health_grpc.HealthServicer):
    def Check(self, request, context):
        return health_pb.HealthCheckResponse(status=health_pb.HealthCheckResponse.SERVING)

    def Watch(self, request, context):
        yield health_pb.HealthCheckResponse(status=health_pb.HealthCheckResponse.SERVING)
        yield health_pb.HealthCheckResponse(status=health_pb.HealthCheckResponse.NOT_SERVING)


def _code(value: int):
    return next(c.value for c in grpc.StatusCode if c.value[0] == value)


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.max_receive_message_length", 8 * 1024 * 1024),
                                  ("grpc.max_send_message_length", 8 * 1024 * 1024)])
    pb_grpc.add_AccessPackageRequestsServicer_to_server(Requests(), server)
    health_grpc.add_HealthServicer_to_server(Health(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"READY {port}", flush=True)
    # Stop when the test closes our stdin (or kills us).
    threading.Thread(target=lambda: (sys.stdin.read(), server.stop(0)), daemon=True).start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()

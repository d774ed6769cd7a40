import EntitlementAPI
import RPCCore
import Dispatch
import Synchronization

/// A fake service that turns requests into observable behaviour, for transport tests:
/// `ListRequests` echoes and sizes its response, `Reprocess` fails, sleeps or echoes on demand.
final class EchoService: AccessPackageRequestsService {
    /// Calls of `sleep` and endless watches whose handler has started, and of those, the ones
    /// cancelled: a test of cancellation waits for the second to catch up with the first.
    let startedCalls = Atomic<Int>(0)
    let cancelledCalls = Atomic<Int>(0)
    /// Calls of `stubborn-MS` whose handler has finished.
    let stubbornFinished = Atomic<Int>(0)

    func listRequests(_ request: ListRequestsRequest, context: ServerContext) async throws -> ListRequestsResponse {
        var response = ListRequestsResponse()
        response.nextPageToken = request.pageToken
        // page_size doubles as "how many KiB of payload to send back".
        if request.pageSize > 0 {
            var item = AccessPackageRequest()
            item.id = String(repeating: "x", count: Int(request.pageSize) * 1024)
            response.requests = [item]
        }
        if let echo = context.metadata["x-echo"] {
            context.response.addHeader(.string(echo), forKey: "x-echo-header")
            context.response.addTrailer(.string(echo), forKey: "x-echo-trailer")
        }
        if let bytes = context.metadata.binary(forKey: "x-blob-bin") {
            context.response.addTrailer(.binary(bytes), forKey: "x-blob-bin")
        }
        return response
    }

    /// Streams one message per request id; an id `big-N` is N KiB long. `requestIds` empty and
    /// `untilSettled`: streams until cancelled, counting cancellations.
    func watchRequests(
        _ request: WatchRequestsRequest, responses: ResponseStreamWriter<WatchRequestsResponse>, context: ServerContext
    ) async throws {
        if request.requestIds.isEmpty && request.untilSettled {
            startedCalls.add(1, ordering: .relaxed)
            do {
                var n = 0
                while true {
                    try await responses.write(Self.watchMessage("tick-\(n)"))
                    n += 1
                    try await Task.sleep(for: .milliseconds(5))
                }
            } catch {
                cancelledCalls.add(1, ordering: .relaxed)
                throw error
            }
        }
        for id in request.requestIds {
            if id.hasPrefix("big-"), let kib = Int(id.dropFirst(4)) {
                try await responses.write(Self.watchMessage(String(repeating: "b", count: kib * 1024)))
                writtenMessages.add(1, ordering: .relaxed)
            } else if id.hasPrefix("fail-"), let code = Int(id.dropFirst(5)) {
                throw RPCError(code: RPCError.Code(rawValue: code), message: "failed mid-stream")
            } else {
                try await responses.write(Self.watchMessage(id))
                writtenMessages.add(1, ordering: .relaxed)
            }
        }
    }

    /// Messages `watchRequests` has handed to the transport.
    let writtenMessages = Atomic<Int>(0)

    static func watchMessage(_ id: String) -> WatchRequestsResponse {
        var message = WatchRequestsResponse()
        var item = AccessPackageRequest()
        item.id = id
        message.request = item
        return message
    }

    func reprocess(_ request: ReprocessRequest, context: ServerContext) async throws -> ReprocessResponse {
        switch request.accessPackageId {
        case "sleep":
            startedCalls.add(1, ordering: .relaxed)
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                cancelledCalls.add(1, ordering: .relaxed)
                throw error
            }
            return ReprocessResponse()
        case "slow":
            try await Task.sleep(for: .milliseconds(300))
            var response = ReprocessResponse()
            var result = ReprocessResult()
            result.requestId = "slow-done"
            response.results = [result]
            return response
        case let name where name.hasPrefix("stubborn-"):
            // Like a handler awaiting a store commit: cancellation does not interrupt the wait.
            let milliseconds = Int(name.dropFirst(9)) ?? 500
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) { continuation.resume() }
            }
            stubbornFinished.add(1, ordering: .relaxed)
            return ReprocessResponse()
        case let code where code.hasPrefix("fail-"):
            let raw = Int(code.dropFirst(5)) ?? 2
            throw RPCError(code: RPCError.Code(rawValue: raw), message: "failed on purpose: ünïcödé 100%")
        default:
            var response = ReprocessResponse()
            response.results = request.requestIds.map { id in
                var result = ReprocessResult()
                result.requestId = id
                result.outcome = .accepted
                return result
            }
            return response
        }
    }
}

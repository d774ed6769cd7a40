import EntitlementAPI
import RPCCore
import Dispatch
import Synchronization

/// A fake service that turns requests into observable behaviour, for transport tests:
/// `ListRequests` echoes and sizes its response, `Reprocess` fails, sleeps or echoes on demand.
final class EchoService: AccessPackageRequestsService {
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

    func reprocess(_ request: ReprocessRequest, context: ServerContext) async throws -> ReprocessResponse {
        switch request.accessPackageId {
        case "sleep":
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

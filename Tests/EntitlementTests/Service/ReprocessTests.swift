import Entitlement
import EntitlementAPI
import ProtoWire
import RPCCore
import Testing

@Suite("Reprocess")
struct ReprocessTests {
    @Test(
        "argument rules are INVALID_ARGUMENT, naming the rule and the id",
        arguments: StoreKind.all, [
            ("", ["r1"], "access_package_id"),
            ("ap-1", [], "1 to 100"),
            ("ap-1", (0...100).map { "r\($0)" }, "got 101"),
            ("ap-1", ["r1", ""], "request_ids[1] is empty"),
            ("ap-1", ["r1", "r2", "r1"], "request_ids[2] \"r1\" duplicates request_ids[0]"),
            ("ap-1", (0..<30).map { "r\($0)" } + ["r7"], "request_ids[30] \"r7\" duplicates request_ids[7]"),
            ("ap-1", ["r1", "r1", ""], "request_ids[1] \"r1\" duplicates request_ids[0]"),
        ])
    func validation(kind: StoreKind, _ arguments: (String, [String], String)) async throws {
        let (packageId, ids, message) = arguments
        try await withStore(kind, requests: [makeRequest("r1")]) { store, _ in
            await expectRPCError(.invalidArgument, containing: message) {
                _ = try await AccessPackageRequestsHandler(store: store)
                    .reprocess(reprocessRequest(packageId, ids: ids), context: makeContext())
            }
            let stored = try await store.request(id: "r1")
            #expect(stored?.state == .deliveryFailed)
        }
    }

    @Test("100 ids are accepted as a batch", arguments: StoreKind.all)
    func hundredIds(kind: StoreKind) async throws {
        let requests = (0..<100).map { makeRequest("r\($0)") }
        try await withStore(kind, requests: requests) { store, _ in
            let response = try await AccessPackageRequestsHandler(store: store)
                .reprocess(reprocessRequest(ids: requests.map(\.id)), context: makeContext())
            #expect(response.results.count == 100)
            #expect(response.results.allSatisfy { $0.outcome == .accepted })
        }
    }

    @Test("an unknown access package is NOT_FOUND", arguments: StoreKind.all)
    func unknownPackage(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            await expectRPCError(.notFound, containing: "ap-404") {
                _ = try await AccessPackageRequestsHandler(store: store)
                    .reprocess(reprocessRequest("ap-404", ids: ["r1"]), context: makeContext())
            }
        }
    }

    @Test("one result per id, in the order given, each outcome by the first matching rule", arguments: StoreKind.all)
    func outcomes(kind: StoreKind) async throws {
        let requests = [
            makeRequest("failed", state: .deliveryFailed),
            makeRequest("partial", state: .partiallyDelivered),
            makeRequest("delivered", state: .delivered),
            makeRequest("delivering", state: .delivering, completedAgo: 30 * day),
            makeRequest("submitted", state: .submitted, completedAgo: nil),
            makeRequest("denied", state: .denied),
            makeRequest("old", state: .deliveryFailed, completedAgo: 8 * day),
            makeRequest("no-completion", state: .deliveryFailed, completedAgo: nil),
            makeRequest("other-package", package: "ap-2", state: .deliveryFailed),
        ]
        let ids = [
            "old", "failed", "missing", "delivering", "partial", "submitted", "denied", "delivered",
            "no-completion", "other-package",
        ]
        let expected: [ReprocessOutcome] = [
            .windowExpired, .accepted, .notFound, .alreadyInProgress, .accepted,
            .notEligible, .notEligible, .accepted, .notEligible, .notFound,
        ]
        try await withStore(kind, requests: requests) { store, _ in
            let response = try await AccessPackageRequestsHandler(store: store)
                .reprocess(reprocessRequest(ids: ids), context: makeContext())
            #expect(response.results.map(\.requestId) == ids)
            #expect(response.results.map(\.outcome) == expected)
            for result in response.results {
                #expect(!result.detail.isEmpty)
                if result.outcome == .notFound {
                    #expect(result.request == nil)
                } else {
                    let stored = try await store.request(id: result.requestId)
                    #expect(result.request == stored, "request holds the request as it stands after the call")
                }
            }
        }
    }

    @Test("an accepted request is DELIVERING with every resource PENDING, count + 1, last_reprocessed_at = now", arguments: StoreKind.all)
    func acceptance(kind: StoreKind) async throws {
        var request = makeRequest("r1", state: .partiallyDelivered, resources: 3)
        request.resources[0].state = .delivered
        request.resources[0].error = ""
        request.reprocessCount = 2
        let original = request
        try await withStore(kind, requests: [request]) { store, clock in
            clock.advance(seconds: 10)
            let result = try #require(
                try await AccessPackageRequestsHandler(store: store)
                    .reprocess(reprocessRequest(ids: ["r1"]), context: makeContext()).results.first)
            #expect(result.outcome == .accepted)
            let after = try #require(result.request)
            #expect(after.state == .delivering)
            #expect(after.resources.allSatisfy { $0.state == .pending && $0.error.isEmpty })
            #expect(after.resources.map(\.attempts) == original.resources.map(\.attempts))
            #expect(after.reprocessCount == 3)
            #expect(after.lastReprocessedAt == Timestamp(seconds: testNow.seconds + 10))
            #expect(after.completedAt == original.completedAt)
            #expect(after.createdAt == original.createdAt)
            #expect(try await store.request(id: "r1") == after)
        }
    }

    @Test("a second call while delivering is ALREADY_IN_PROGRESS", arguments: StoreKind.all)
    func secondCall(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1")]) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            let first = try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
            let second = try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
            #expect(first.results.first?.outcome == .accepted)
            #expect(second.results.first?.outcome == .alreadyInProgress)
            #expect(second.results.first?.request?.reprocessCount == 1)
        }
    }

    @Test("50 concurrent calls on the same id: exactly one ACCEPTED", arguments: StoreKind.all)
    func concurrentCalls(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1")]) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            let outcomes = try await withThrowingTaskGroup(of: ReprocessOutcome.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
                            .results[0].outcome
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == .accepted }.count == 1)
            #expect(outcomes.filter { $0 == .alreadyInProgress }.count == 49)
            #expect(try await store.request(id: "r1")?.reprocessCount == 1)
        }
    }

    @Test("the window counts from the original completed_at, whatever reprocessing happened since", arguments: StoreKind.all)
    func windowFromOriginalCompletion(kind: StoreKind) async throws {
        // Completed 6 days ago: inside the 7-day window.
        try await withStore(kind, requests: [makeRequest("r1", completedAgo: 6 * day)]) { store, clock in
            let handler = AccessPackageRequestsHandler(store: store)
            let worker = DeliveryWorker(
                store: store, provisioner: FailingProvisioner(failing: ["res-1"]),
                configuration: DeliveryConfiguration(baseDelay: .milliseconds(1), maxDelay: .milliseconds(2)))
            let running = Task { await worker.run() }
            defer { running.cancel() }

            #expect(
                try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
                    .results[0].outcome == .accepted)
            let settled = try await waitFor("r1", in: store) { $0.state != .delivering }
            #expect(settled.state == .partiallyDelivered)
            #expect(settled.completedAt == Timestamp(seconds: testNow.seconds - 6 * day))

            // Two days later the original completion is 8 days old: expired, despite the recent reprocess.
            clock.advance(seconds: 2 * day)
            let late = try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
            #expect(late.results[0].outcome == .windowExpired)
            #expect(late.results[0].request?.state == .partiallyDelivered)
        }
    }

    @Test("the window is configurable", arguments: StoreKind.all)
    func configurableWindow(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1", completedAgo: 2 * day)]) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store, policy: ReprocessPolicy(windowDays: 1))
            let response = try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
            #expect(response.results[0].outcome == .windowExpired)
            #expect(response.results[0].detail.contains("more than 1 day ago"))
        }
    }

    @Test("every call is audited: allowed with outcomes, rejected with the reason", arguments: StoreKind.all)
    func auditRows(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1"), makeRequest("r2", state: .submitted)]) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            _ = try await handler.reprocess(reprocessRequest(ids: ["r1", "r2", "nope"]), context: makeContext())
            await expectRPCError(.invalidArgument) {
                _ = try await handler.reprocess(reprocessRequest(ids: []), context: makeContext(caller: "oid-9"))
            }
            await store.recordDeniedReprocess(
                caller: "oid-8", packageId: "ap-2", requestIds: ["x"], reason: "no role in catalog cat-b")

            let records = try await store.auditRecords(limit: 10)
            #expect(records.count == 3)
            let allowed = records[0]
            #expect(allowed.decision == .allowed)
            #expect(allowed.callerObjectId == "oid-7")
            #expect(allowed.accessPackageId == "ap-1")
            #expect(allowed.requestIds == ["r1", "r2", "nope"])
            #expect(allowed.outcomes == [.accepted, .notEligible, .notFound])
            #expect(allowed.time == testNow)
            #expect(records[1].decision == .rejected && records[1].callerObjectId == "oid-9")
            #expect(records[1].reason.contains("request_ids"))
            #expect(records[2].decision == .denied && records[2].reason == "no role in catalog cat-b")
            #expect(records[2].requestIds == ["x"] && records[2].outcomes.isEmpty)
        }
    }
}

import Entitlement
import EntitlementAPI
import ProtoWire
import Testing

@Suite("Delivery")
struct DeliveryWorkerTests {
    static let fast = DeliveryConfiguration(maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(4))

    /// Reprocesses `ids` with a worker running on `provisioner`, and waits until they settle.
    static func reprocessAndSettle(
        _ ids: [String], store: any RequestStoring, provisioner: any Provisioner
    ) async throws -> [AccessPackageRequest] {
        let worker = DeliveryWorker(store: store, provisioner: provisioner, configuration: fast)
        let running = Task { await worker.run() }
        defer { running.cancel() }
        let response = try await AccessPackageRequestsHandler(store: store)
            .reprocess(reprocessRequest(ids: ids), context: makeContext())
        #expect(response.results.allSatisfy { $0.outcome == .accepted })
        var settled: [AccessPackageRequest] = []
        for id in ids { settled.append(try await waitFor(id, in: store) { $0.state != .delivering }) }
        return settled
    }

    @Test("the built-in provisioner delivers every resource: DELIVERED, grants recorded", arguments: StoreKind.all)
    func builtInDelivers(kind: StoreKind) async throws {
        var partial = makeRequest("r2", state: .partiallyDelivered, resources: 3)
        partial.resources[0].state = .delivered
        try await withStore(kind, requests: [makeRequest("r1"), partial]) { store, _ in
            let settled = try await Self.reprocessAndSettle(
                ["r1", "r2"], store: store, provisioner: BuiltInProvisioner(store: store))
            for request in settled {
                #expect(request.state == .delivered)
                #expect(request.resources.allSatisfy { $0.state == .delivered && $0.error.isEmpty })
                // One attempt each on top of the imported count, including the resource delivered before.
                #expect(request.resources.allSatisfy { $0.attempts == 2 })
                #expect(request.completedAt == Timestamp(seconds: testNow.seconds - day))
            }
            #expect(try await store.grantCount(requestId: "r1") == 2)
            #expect(try await store.grantCount(requestId: "r2") == 3)
        }
    }

    @Test("some resources failing every retry: PARTIALLY_DELIVERED, attempts counted, error kept", arguments: StoreKind.all)
    func partial(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1", resources: 3)]) { store, _ in
            let provisioner = FailingProvisioner(failing: ["res-2"])
            let request = try #require(
                try await Self.reprocessAndSettle(["r1"], store: store, provisioner: provisioner).first)
            #expect(request.state == .partiallyDelivered)
            #expect(request.resources.map(\.state) == [.delivered, .failed, .delivered])
            #expect(request.resources.map(\.attempts) == [2, 4, 2])
            #expect(request.resources[1].error == "res-2 refused")
            #expect(provisioner.callCount(request: "r1", resource: "res-2") == 3)
        }
    }

    @Test("every resource failing: DELIVERY_FAILED", arguments: StoreKind.all)
    func allFail(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1", resources: 2)]) { store, _ in
            let request = try #require(
                try await Self.reprocessAndSettle(
                    ["r1"], store: store, provisioner: FailingProvisioner(failing: ["res-1", "res-2"])
                ).first)
            #expect(request.state == .deliveryFailed)
            #expect(request.resources.allSatisfy { $0.state == .failed && $0.attempts == 4 })
        }
    }

    @Test("a transient failure is retried with backoff and then delivers", arguments: StoreKind.all)
    func retries(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1", resources: 2)]) { store, _ in
            let request = try #require(
                try await Self.reprocessAndSettle(
                    ["r1"], store: store, provisioner: FailingProvisioner(failFirst: 2)
                ).first)
            #expect(request.state == .delivered)
            #expect(request.resources.map(\.attempts) == [4, 4])
        }
    }

    @Test("requests imported as DELIVERING are delivered when the worker starts", arguments: StoreKind.all)
    func deliveringAtStart(kind: StoreKind) async throws {
        let requests = (0..<20).map { makeRequest("r\($0)", state: .delivering, completedAgo: nil, resources: 1) }
        try await withStore(kind, requests: requests) { store, _ in
            let worker = DeliveryWorker(
                store: store, provisioner: BuiltInProvisioner(store: store), configuration: Self.fast)
            let running = Task { await worker.run() }
            defer { running.cancel() }
            for request in requests {
                let settled = try await waitFor(request.id, in: store) { $0.state != .delivering }
                #expect(settled.state == .delivered)
                // A request that never completed gets its (first, original) completion time.
                #expect(settled.completedAt == testNow)
            }
        }
    }

    @Test("no more requests are delivered at once than configured", arguments: StoreKind.all)
    func boundedConcurrency(kind: StoreKind) async throws {
        let requests = (0..<24).map { makeRequest("r\($0)", state: .delivering, completedAgo: nil, resources: 2) }
        try await withStore(kind, requests: requests) { store, _ in
            let probe = ConcurrencyProbe()
            let worker = DeliveryWorker(
                store: store, provisioner: probe,
                configuration: DeliveryConfiguration(maxConcurrentRequests: 3))
            let running = Task { await worker.run() }
            defer { running.cancel() }
            for request in requests {
                let settled = try await waitFor(request.id, in: store) { $0.state != .delivering }
                #expect(settled.state == .delivered)
            }
            #expect(probe.maximum <= 3)
            // Each request grants its resources side by side, within the per-request bound.
            #expect(probe.maximumGrants <= 3 * min(2, DeliveryWorker.maxConcurrentGrants))
        }
    }

    @Test("backoff doubles from the base delay and is capped")
    func backoff() {
        let configuration = DeliveryConfiguration()
        #expect(
            (1...5).map { configuration.delay(afterAttempt: $0) }
                == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1_600), .seconds(2)])
    }

    @Test("the built-in provisioner's failure injection is seeded and repeatable", arguments: StoreKind.all)
    func seededFailures(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1")]) { store, _ in
            func draws() async -> [Bool] {
                let provisioner = BuiltInProvisioner(store: store, failureRate: 0.5, seed: 9)
                var results: [Bool] = []
                for _ in 0..<32 {
                    do {
                        try await provisioner.grant(resource: ResourceDelivery(), request: makeRequest("r1"))
                        results.append(true)
                    } catch {
                        results.append(false)
                    }
                }
                return results
            }
            let first = await draws()
            #expect(first == (await draws()))
            #expect(first.contains(true) && first.contains(false))
        }
    }

    @Test("cancelling run() returns", arguments: StoreKind.all)
    func cancellation(kind: StoreKind) async throws {
        try await withStore(kind, requests: [makeRequest("r1")]) { store, _ in
            let worker = DeliveryWorker(store: store, provisioner: BuiltInProvisioner(store: store))
            let running = Task { await worker.run() }
            try await Task.sleep(for: .milliseconds(10))
            running.cancel()
            await running.value
        }
    }
}

import EntitlementAPI
public import Logging

/// Delivers every DELIVERING request of a store through a provisioner.
///
/// On start it takes every request already DELIVERING (left by a crash, or imported so), then
/// each one a Reprocess call accepts. Every resource is attempted, including ones delivered
/// before; a failed attempt is retried with capped exponential backoff; each attempt and the
/// final state are committed. Run one worker per store.
public final class DeliveryWorker: Sendable {
    private let store: any RequestStoring
    private let provisioner: any Provisioner
    private let configuration: DeliveryConfiguration
    private let logger: Logger

    public init(
        store: any RequestStoring,
        provisioner: any Provisioner,
        configuration: DeliveryConfiguration = DeliveryConfiguration(),
        logger: Logger = Logger(label: "entitlement.delivery")
    ) {
        self.store = store
        self.provisioner = provisioner
        self.configuration = configuration
        self.logger = logger
    }

    /// Delivers until cancelled (or the store is closed). On cancellation, deliveries in progress
    /// stop at their next suspension and stay DELIVERING, to be finished by the next start.
    public func run() async {
        enum Event: Sendable { case delivered, woke, closed }
        let wakeups = store.deliveryWakeups
        await withTaskGroup(of: Event.self) { group in
            var inFlight = 0
            var listening = false
            var open = true
            while !Task.isCancelled {
                let free = configuration.maxConcurrentRequests - inFlight
                if free > 0 {
                    for request in await store.claimDeliveringRequests(limit: free) {
                        inFlight += 1
                        group.addTask {
                            await self.deliver(request)
                            return .delivered
                        }
                    }
                }
                if open, !listening {
                    listening = true
                    group.addTask { await wakeups.wait() ? .woke : .closed }
                }
                guard let event = await group.next() else { break }
                switch event {
                case .delivered: inFlight -= 1
                case .woke: listening = false
                case .closed:
                    listening = false
                    open = false
                }
            }
            group.cancelAll()
        }
    }

    private func deliver(_ claimed: AccessPackageRequest) async {
        let id = claimed.id
        do {
            // Resources are independent grants: attempt them side by side (a bounded number at
            // once), so a request settles in about one grant's time however many it has.
            let kept = try await withThrowingTaskGroup(of: Bool.self) { group in
                var next = claimed.resources.startIndex
                var inFlight = 0
                var kept = true
                while next < claimed.resources.endIndex || inFlight > 0 {
                    while inFlight < Self.maxConcurrentGrants, next < claimed.resources.endIndex {
                        let index = next
                        group.addTask { try await self.deliverResource(index, of: claimed) }
                        next += 1
                        inFlight += 1
                    }
                    if let stillOurs = try await group.next() {
                        inFlight -= 1
                        kept = kept && stillOurs
                    }
                }
                return kept
            }
            guard kept else {
                await store.releaseDeliveryClaim(requestId: id)
                return
            }
            if let settled = try await store.finishDelivery(requestId: id) {
                logger.info(
                    "delivered",
                    metadata: [
                        "request_id": .string(id), "state": .string(settled.state.protoName),
                    ])
            }
        } catch is CancellationError {
            await store.releaseDeliveryClaim(requestId: id)
        } catch {
            // The store could not commit an attempt or the outcome (disk full, overloaded): what
            // was committed stands, and the request goes back in the queue after a backoff, so
            // it is not stuck in DELIVERING until the next start.
            let retries = await store.deliveryRetryCount(requestId: id) + 1
            let delay = configuration.delay(afterAttempt: retries)
            logger.error(
                "delivery stopped on a store failure; retrying",
                metadata: [
                    "request_id": .string(id), "error": .string(String(describing: error)),
                    "retry_in": .stringConvertible(delay),
                ])
            do {
                try await Task.sleep(for: delay)
                await store.requeueDelivery(requestId: id)
            } catch {
                await store.releaseDeliveryClaim(requestId: id)
            }
        }
    }

    /// How many resources of one request are granted at once.
    public static let maxConcurrentGrants = 8

    /// Attempts one resource until it is delivered or out of attempts, recording every attempt.
    /// Returns false if the store no longer holds the request as DELIVERING.
    private func deliverResource(_ index: Int, of request: AccessPackageRequest) async throws -> Bool {
        var attempt = 0
        while true {
            attempt += 1
            var failure = ""
            do {
                try await provisioner.grant(resource: request.resources[index], request: request)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                failure = String(String(describing: error).prefix(500))
                if failure.isEmpty { failure = "provisioning failed" }
            }
            let updated = try await store.recordDeliveryAttempt(
                requestId: request.id, resourceIndex: index, delivered: failure.isEmpty, error: failure)
            guard updated != nil else { return false }
            if failure.isEmpty || attempt >= configuration.maxAttempts { return true }
            try await Task.sleep(for: configuration.delay(afterAttempt: attempt))
        }
    }
}

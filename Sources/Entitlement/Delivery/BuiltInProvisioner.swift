public import EntitlementAPI
import Synchronization

/// The provisioner the server uses when no real target system is wired in: it records each grant
/// in the store's `grants` table and, for drills, fails a share of attempts at random.
public final class BuiltInProvisioner: Provisioner {
    private let store: any RequestStoring
    private let failureRate: Double
    private let latency: Duration
    private let random: Mutex<SplitMix64>

    /// - Parameters:
    ///   - failureRate: the probability (0…1) that an attempt fails (`--simulate-failure-rate`).
    ///   - seed: seeds the failure draws, so a drill can be repeated.
    ///   - latency: how long each grant takes, like a call to a real target system. The server
    ///     uses a second, so a reprocessed request is visibly DELIVERING for that long.
    public init(store: any RequestStoring, failureRate: Double = 0, seed: UInt64 = 0x5EED, latency: Duration = .zero) {
        precondition((0...1).contains(failureRate), "the failure rate is a probability")
        self.store = store
        self.failureRate = failureRate
        self.latency = latency
        self.random = Mutex(SplitMix64(seed: seed))
    }

    public func grant(resource: ResourceDelivery, request: AccessPackageRequest) async throws {
        if latency > .zero { try await Task.sleep(for: latency) }
        if failureRate > 0 {
            let draw = random.withLock { Double.random(in: 0..<1, using: &$0) }
            if draw < failureRate { throw ProvisioningError("simulated provisioning failure") }
        }
        try await store.recordGrant(
            requestId: request.id, resourceId: resource.resourceId, resourceType: resource.resourceType,
            principalId: request.requestor?.id ?? "")
    }
}

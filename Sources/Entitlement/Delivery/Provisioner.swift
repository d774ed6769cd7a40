public import EntitlementAPI

/// Grants one resource of a request in the target system (a group membership, an app role…).
/// Throwing means this attempt failed; the delivery worker retries with backoff.
public protocol Provisioner: Sendable {
    func grant(resource: ResourceDelivery, request: AccessPackageRequest) async throws
}

/// A provisioning failure with a message that ends up in the resource's `error`.
public struct ProvisioningError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

public import EntitlementAPI

/// A request that acts on one access package; catalog-scoped authorization reads the id from it.
public protocol AccessPackageScoped {
    var accessPackageId: String { get }
}

extension ListRequestsRequest: AccessPackageScoped {}
extension ReprocessRequest: AccessPackageScoped {}
extension WatchRequestsRequest: AccessPackageScoped {}

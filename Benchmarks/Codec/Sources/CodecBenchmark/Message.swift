import EntitlementAPI
import ProtoWire

/// The benchmark message: a full page of 50 requests, every field set, three resources each.
func benchmarkMessage() -> ListRequestsResponse {
    var response = ListRequestsResponse()
    response.requests = (0..<50).map { index in
        var subject = Subject()
        subject.id = "6b3f1c2e-8d4a-4f7b-9e21-\(String(100_000_000_000 + index))"
        subject.displayName = index.isMultiple(of: 2) ? "Ada Lovelace" : "Zoë Ångström"
        subject.principalName = "user\(index)@contoso.example"

        var request = AccessPackageRequest()
        request.id = "req-\(String(1_000_000 + index))"
        request.accessPackageId = "ap-7f3c9a52-1b6e-4f0d-9c2a-5e8b1d4f6a70"
        request.catalogId = "catalog-general"
        request.requestor = subject
        request.state = RequestState(rawValue: Int32(index % 10))
        request.createdAt = Timestamp(seconds: 1_700_000_000 + Int64(index) * 3600, nanos: 123_456_789)
        request.completedAt = Timestamp(seconds: 1_700_000_900 + Int64(index) * 3600, nanos: 1)
        request.resources = (0..<3).map { r in
            var resource = ResourceDelivery()
            resource.resourceId = "resource-\(index * 3 + r)"
            resource.displayName = "Resource \(index * 3 + r): Sales SharePoint site"
            resource.resourceType = ["SharePointOnline", "AadGroup", "AadApplication"][r]
            resource.state = ResourceDeliveryState(rawValue: Int32(r + 1))
            resource.error = r == 2 ? "provisioning failed: HTTP 503 (retry later)" : ""
            resource.attempts = Int32(r + 1)
            return resource
        }
        request.reprocessCount = Int32(index % 5)
        request.lastReprocessedAt = Timestamp(seconds: 1_700_100_000 + Int64(index), nanos: 999_999_999)
        return request
    }
    response.nextPageToken = "eyJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwLCJpZCI6InJlcS00OSJ9.c2lnbmF0dXJl"
    return response
}

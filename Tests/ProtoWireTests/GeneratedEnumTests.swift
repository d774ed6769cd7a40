import EntitlementAPI
import ProtoWire
import Testing

@Suite("Generated enums")
struct GeneratedEnumTests {
    @Test("case names drop the enum-name prefix and are lowerCamelCase")
    func caseNames() {
        #expect(RequestState.allKnownCases == [
            .unspecified, .submitted, .pendingApproval, .delivering, .delivered, .partiallyDelivered,
            .deliveryFailed, .denied, .canceled, .scheduled,
        ])
        #expect(ReprocessOutcome.allKnownCases == [
            .unspecified, .accepted, .notFound, .notEligible, .windowExpired, .alreadyInProgress,
        ])
        #expect(ResourceDeliveryState.allKnownCases == [.unspecified, .pending, .delivered, .failed])
        #expect(CatalogRole.allKnownCases == [
            .unspecified, .owner, .reader, .accessPackageManager, .accessPackageAssignmentManager,
        ])
        #expect(HealthCheckResponse.ServingStatus.allKnownCases == [.unknown, .serving, .notServing, .serviceUnknown])
        #expect(Keywords.Kind.allKnownCases == [.unspecified, .default, .class])
        #expect(RequestState.allCases == RequestState.allKnownCases)
    }

    @Test("raw values and proto names round-trip for every known case")
    func rawValuesAndNames() {
        for (index, state) in RequestState.allKnownCases.enumerated() {
            #expect(state.rawValue == Int32(index))
            #expect(RequestState(rawValue: Int32(index)) == state)
            #expect(RequestState(protoName: state.protoName) == state)
            #expect(state.protoName.hasPrefix("REQUEST_STATE_"))
        }
        #expect(RequestState.deliveryFailed.protoName == "REQUEST_STATE_DELIVERY_FAILED")
        #expect(CatalogRole(protoName: "CATALOG_ROLE_ACCESS_PACKAGE_ASSIGNMENT_MANAGER") == .accessPackageAssignmentManager)
        #expect(HealthCheckResponse.ServingStatus(protoName: "NOT_SERVING") == .notServing)
        #expect(RequestState(protoName: "DELIVERED") == nil)
        #expect(RequestState(protoName: "4") == nil)
        #expect(RequestState(rawValue: 10) == .unrecognized(10))
        #expect(RequestState.unrecognized(10).protoName == "10")
    }

    @Test("enum fields default to their zero case")
    func defaults() {
        #expect(AccessPackageRequest().state == .unspecified)
        #expect(ReprocessResult().outcome == .unspecified)
        #expect(HealthCheckResponse().status == .unknown)
    }
}

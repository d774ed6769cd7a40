import Entitlement
import EntitlementAPI
import ProtoWire
import Testing

@Suite("ReprocessPolicy")
struct ReprocessPolicyTests {
    let policy = ReprocessPolicy()

    @Test("state rules", arguments: RequestState.allKnownCases)
    func states(state: RequestState) {
        let outcome = policy.evaluate(
            requestId: "r", request: makeRequest("r", state: state), accessPackageId: "ap-1", now: testNow
        ).outcome
        switch state {
        case .delivering: #expect(outcome == .alreadyInProgress)
        case .delivered, .partiallyDelivered, .deliveryFailed: #expect(outcome == .accepted)
        default: #expect(outcome == .notEligible)
        }
    }

    @Test(
        "window edges: exactly the window is still inside",
        arguments: [
            (Int64(0), ReprocessOutcome.accepted),
            (7 * day, .accepted),
            (7 * day + 1, .windowExpired),
            (-day, .accepted),
        ])
    func window(completedAgo: Int64, expected: ReprocessOutcome) {
        let request = makeRequest("r", completedAgo: completedAgo)
        #expect(
            policy.evaluate(requestId: "r", request: request, accessPackageId: "ap-1", now: testNow).outcome == expected
        )
    }

    @Test("a nanosecond past the window is expired")
    func nanosecondPast() {
        var now = testNow
        now.nanos = 1
        let request = makeRequest("r", completedAgo: 7 * day)
        #expect(
            policy.evaluate(requestId: "r", request: request, accessPackageId: "ap-1", now: now).outcome
                == .windowExpired)
    }

    @Test("missing, or in another package, is NOT_FOUND; no completion time is NOT_ELIGIBLE")
    func notFoundAndNoCompletion() {
        #expect(
            policy.evaluate(requestId: "r", request: nil, accessPackageId: "ap-1", now: testNow).outcome == .notFound)
        let elsewhere = makeRequest("r", package: "ap-2")
        #expect(
            policy.evaluate(requestId: "r", request: elsewhere, accessPackageId: "ap-1", now: testNow).outcome
                == .notFound)
        let open = makeRequest("r", completedAgo: nil)
        #expect(
            policy.evaluate(requestId: "r", request: open, accessPackageId: "ap-1", now: testNow).outcome
                == .notEligible)
    }

    @Test("DELIVERING wins over an expired window")
    func firstMatchWins() {
        let request = makeRequest("r", state: .delivering, completedAgo: 30 * day)
        #expect(
            policy.evaluate(requestId: "r", request: request, accessPackageId: "ap-1", now: testNow).outcome
                == .alreadyInProgress)
    }
}

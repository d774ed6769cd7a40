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
        "details name the window and the completion time, and the state of an ineligible request",
        arguments: [
            (ReprocessPolicy(), "more than 7 days ago (completed_at 2026-01-01T00:00:00Z); the reprocess window has passed"),
            (ReprocessPolicy(windowDays: 1), "more than 1 day ago (completed_at 2026-01-01T00:00:00Z);"),
            (ReprocessPolicy(windowSeconds: 90), "more than 90 seconds ago (completed_at 2026-01-01T00:00:00Z);"),
        ])
    func details(policy: ReprocessPolicy, expected: String) {
        var request = makeRequest("r", state: .delivered)
        request.completedAt = Timestamp(seconds: 1_767_225_600)
        let (outcome, detail) = policy.evaluate(requestId: "r", request: request, accessPackageId: "ap-1", now: testNow)
        #expect(outcome == .windowExpired)
        #expect(detail.hasPrefix("the request completed "))
        #expect(detail.contains(expected))
        let denied = policy.evaluate(
            requestId: "r", request: makeRequest("r", state: .denied), accessPackageId: "ap-1", now: testNow)
        #expect(denied.detail.hasSuffix("this one is REQUEST_STATE_DENIED"))
    }

    @Test("a plan of several expired ids names each one's own completion time")
    func planDetails() {
        let requests = (0..<5).map { makeRequest("r\($0)", completedAgo: 8 * day + Int64($0) * 3_600) }
        let stored = Dictionary(uniqueKeysWithValues: requests.map { ($0.id, StoredRequest($0)) })
        let plan = ReprocessPlan(
            accessPackageId: "ap-1", requestIds: requests.map(\.id) + ["missing"], policy: policy, now: testNow,
            current: { stored[$0] })
        #expect(plan.results.map(\.outcome) == Array(repeating: .windowExpired, count: 5) + [.notFound])
        for (result, request) in zip(plan.results, requests) {
            let completed = RFC3339.format(request.completedAt!)
            #expect(result.detail == "the request completed more than 7 days ago (completed_at \(completed)); the reprocess window has passed")
        }
        #expect(plan.accepted.isEmpty)
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

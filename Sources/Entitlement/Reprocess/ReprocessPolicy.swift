public import EntitlementAPI
import RPCCore
public import ProtoWire

/// The Reprocess eligibility rules, in contract order (first match wins). Pure: no store, no clock.
public struct ReprocessPolicy: Sendable, Hashable {
    /// The default reprocess window: 7 days.
    public static let defaultWindowSeconds: Int64 = 7 * 86_400

    /// How long after its original completion a request may still be reprocessed.
    public let windowSeconds: Int64
    /// The WINDOW_EXPIRED detail up to the completion time, made once.
    private let expiredDetailPrefix: [UInt8]

    public init(windowSeconds: Int64 = ReprocessPolicy.defaultWindowSeconds) {
        precondition(windowSeconds >= 0, "the reprocess window cannot be negative")
        self.windowSeconds = windowSeconds
        let window =
            switch windowSeconds {
            case 86_400: "1 day"
            case let seconds where seconds % 86_400 == 0: "\(seconds / 86_400) days"
            default: "\(windowSeconds) seconds"
            }
        expiredDetailPrefix = Array("the request completed more than \(window) ago (completed_at ".utf8)
    }

    /// A policy with a window of whole days (`--reprocess-window-days`).
    /// Days are capped at 100 years, so the arithmetic cannot overflow.
    public init(windowDays: Int) {
        self.init(windowSeconds: Int64(min(max(windowDays, 0), 36_500)) * 86_400)
    }

    /// The outcome for one named request and a human-readable reason.
    /// - Parameters:
    ///   - request: the stored request with that id, or nil if there is none.
    ///   - accessPackageId: the package the call names.
    ///   - now: the current time.
    public func evaluate(
        requestId: String,
        request: AccessPackageRequest?,
        accessPackageId: String,
        now: Timestamp
    ) -> (outcome: ReprocessOutcome, detail: String) {
        evaluate(requestId: requestId, stored: request.map(StoredRequest.init), accessPackageId: accessPackageId, now: now)
    }

    /// `evaluate` for a request as a store keeps it (decided without decoding it).
    public func evaluate(
        requestId: String,
        stored request: StoredRequest?,
        accessPackageId: String,
        now: Timestamp
    ) -> (outcome: ReprocessOutcome, detail: String) {
        var scratch: [UInt8] = []
        return evaluate(requestId: requestId, stored: request, accessPackageId: accessPackageId, now: now, scratch: &scratch)
    }

    /// `evaluate` with a buffer to build sentences in, kept by the caller across the ids of a call.
    func evaluate(
        requestId: String,
        stored request: StoredRequest?,
        accessPackageId: String,
        now: Timestamp,
        scratch: inout [UInt8]
    ) -> (outcome: ReprocessOutcome, detail: String) {
        guard let request, request.accessPackageId == accessPackageId else {
            // Clipped: the detail echoes what the caller sent, and a reply must stay within one
            // message (a 40 KB id once made its reply twice the size of the request).
            return (
                .notFound,
                "no request \(CallerText.quotedId(requestId)) in access package \"\(CallerText.clean(accessPackageId))\""
            )
        }
        switch request.state {
        case .delivering:
            return (.alreadyInProgress, "the request is being delivered already")
        case .delivered, .partiallyDelivered, .deliveryFailed:
            break
        default:
            return (.notEligible, Self.notEligibleDetail(request.state))
        }
        guard let completed = request.completedAt else {
            return (.notEligible, "the request has no completion time, so it cannot be reprocessed")
        }
        if isExpired(completedAt: completed, now: now) {
            return (.windowExpired, expiredDetail(completedAt: completed, scratch: &scratch))
        }
        return (.accepted, "accepted: every resource will be delivered again")
    }

    /// One sentence per known state, made once: most Reprocess calls name requests that are not eligible.
    private static func notEligibleDetail(_ state: RequestState) -> String {
        notEligibleDetails[state.rawValue] ?? notEligibleSentence(state)
    }

    private static let notEligibleDetails: [Int32: String] = Dictionary(
        uniqueKeysWithValues: RequestState.allKnownCases.map { ($0.rawValue, notEligibleSentence($0)) })

    private static func notEligibleSentence(_ state: RequestState) -> String {
        "only delivered, partially delivered or failed requests can be reprocessed; this one is \(state.protoName)"
    }

    /// True when `completedAt` lies more than the window before `now`.
    public func isExpired(completedAt: Timestamp, now: Timestamp) -> Bool {
        let deadline = Timestamp(seconds: completedAt.seconds + windowSeconds, nanos: completedAt.nanos)
        return now > deadline
    }

    /// "the request completed more than 7 days ago (completed_at 2026-01-05T10:00:00Z); the reprocess
    /// window has passed", built in `scratch` (one allocation per expired id: its string).
    private func expiredDetail(completedAt: Timestamp, scratch text: inout [UInt8]) -> String {
        let suffix = "); the reprocess window has passed".utf8
        text.removeAll(keepingCapacity: true)
        text.reserveCapacity(expiredDetailPrefix.count + 40 + suffix.count)
        text += expiredDetailPrefix
        RFC3339.append(completedAt, to: &text)
        text += suffix
        return String(decoding: text, as: UTF8.self)
    }
}

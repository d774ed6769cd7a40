/// How the delivery worker retries and how much it does at once.
public struct DeliveryConfiguration: Sendable, Hashable {
    /// Attempts per resource per delivery, the first included.
    public var maxAttempts: Int
    /// The wait after the first failed attempt; doubled after each further failure.
    public var baseDelay: Duration
    /// The longest wait between attempts.
    public var maxDelay: Duration
    /// How many requests are delivered at once.
    public var maxConcurrentRequests: Int

    public init(
        maxAttempts: Int = 3,
        baseDelay: Duration = .milliseconds(200),
        maxDelay: Duration = .seconds(2),
        maxConcurrentRequests: Int = 32
    ) {
        precondition(maxAttempts >= 1 && maxConcurrentRequests >= 1, "at least one attempt and one request at a time")
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxConcurrentRequests = maxConcurrentRequests
    }

    /// The wait after failed attempt number `attempt` (1-based): `baseDelay · 2^(attempt-1)`, capped.
    public func delay(afterAttempt attempt: Int) -> Duration {
        var delay = baseDelay
        for _ in 1..<max(1, attempt) {
            delay *= 2
            if delay >= maxDelay { break }
        }
        return min(delay, maxDelay)
    }
}

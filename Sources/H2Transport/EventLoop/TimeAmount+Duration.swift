public import NIOCore

extension TimeAmount {
    /// Converts a `Duration`, capping it at 30 days: `grpc-timeout` allows up to 99,999,999 hours,
    /// which does not fit in NIO's nanosecond count, and no call waits that long anyway.
    public init(clamping duration: Duration) {
        let cap: Int64 = 30 * 24 * 3600
        let (seconds, attoseconds) = duration.components
        if seconds >= cap {
            self = .seconds(cap)
        } else if seconds < 0 {
            self = .zero
        } else {
            self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
    }
}

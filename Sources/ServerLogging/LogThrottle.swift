import Synchronization

/// Bounds the lines an event that can repeat without end may write (a client's bad connections,
/// unreadable notifications, a disk that stays full): up to `limit` lines per `interval` pass;
/// the rest are counted, and the next line that passes says how many were left out.
public final class LogThrottle: Sendable {
    public let limit: Int
    public let interval: Duration

    private struct Window {
        var start: ContinuousClock.Instant?
        var passed = 0
        var leftOut = 0
    }

    private let window = Mutex(Window())

    public init(limit: Int, per interval: Duration) {
        self.limit = limit
        self.interval = interval
    }

    /// nil: leave this line out. Otherwise how many lines were left out since the last that passed.
    public func admit(now: ContinuousClock.Instant = .now) -> Int? {
        window.withLock { window in
            if window.start.map({ now - $0 >= interval }) ?? true {
                window.start = now
                window.passed = 0
            }
            guard window.passed < limit else {
                window.leftOut += 1
                return nil
            }
            window.passed += 1
            defer { window.leftOut = 0 }
            return window.leftOut
        }
    }
}

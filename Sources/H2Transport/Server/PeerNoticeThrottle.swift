import Synchronization

/// Bounds the notices peers can cause (protocol errors, floods, silent connections): a client that
/// opens thousands of bad connections a second must not turn each into a log line. Up to
/// `perSecond` notices a second pass; the rest are counted, and the next notice that passes says
/// how many were left out. Shared by a server's connections.
final class PeerNoticeThrottle: Sendable {
    static let perSecond = 10

    private struct Window {
        var start: ContinuousClock.Instant
        var passed = 0
        var suppressed = 0
    }

    private let window: Mutex<Window>

    init() {
        window = Mutex(Window(start: .now))
    }

    /// nil: leave this notice out. Otherwise the notices left out since the last one that passed.
    func admit(now: ContinuousClock.Instant = .now) -> Int? {
        window.withLock { window in
            if now - window.start >= .seconds(1) {
                window.start = now
                window.passed = 0
            }
            guard window.passed < Self.perSecond else {
                window.suppressed += 1
                return nil
            }
            window.passed += 1
            defer { window.suppressed = 0 }
            return window.suppressed
        }
    }
}

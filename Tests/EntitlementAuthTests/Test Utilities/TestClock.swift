import Synchronization

/// A settable wall clock in seconds since 1970.
final class TestClock: Sendable {
    private let seconds: Mutex<Double>

    init(_ seconds: Double = TestIssuer.now) {
        self.seconds = Mutex(seconds)
    }

    var now: Double { seconds.withLock { $0 } }

    func advance(by delta: Double) {
        seconds.withLock { $0 += delta }
    }

    /// The closure a `TokenVerifier` reads.
    var reader: @Sendable () -> Double {
        { [self] in self.now }
    }
}

public import ProtoWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The current wall-clock time, injectable so tests control "now".
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// The system's real-time clock, read with `clock_gettime(CLOCK_REALTIME)`.
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(seconds: Int64(spec.tv_sec), nanos: Int32(spec.tv_nsec))
    }
}

/// A clock that only moves when told to; for tests.
public final class ManualWallClock: WallClock {
    private let current: Mutex<Timestamp>

    public init(_ start: Timestamp) {
        current = Mutex(start)
    }

    public func now() -> Timestamp { current.withLock { $0 } }

    /// Sets the time.
    public func set(_ time: Timestamp) { current.withLock { $0 = time } }

    /// Moves the time forward by whole seconds.
    public func advance(seconds: Int64) { current.withLock { $0.seconds += seconds } }
}

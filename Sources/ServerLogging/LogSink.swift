import Dispatch
import Foundation
import Synchronization

/// Buffered stderr for log lines: handlers append under a lock, a background thread writes the
/// buffer every 50 ms (and is woken early past 256 KiB), so a line per call costs a copy, not a
/// syscall, and a caller never waits for stderr. Bounded: past 4 MiB waiting (stderr blocked),
/// new lines are dropped and counted. `flush()` at shutdown writes what is left; a crash loses at
/// most the last 50 ms.
public final class LogSink: Sendable {
    public static let standardError = LogSink(descriptor: 2)

    static let flushThreshold = 256 * 1024
    static let maxBuffered = 4 * 1024 * 1024
    static let interval = DispatchTimeInterval.milliseconds(50)

    private struct State {
        var buffer: [UInt8] = []
        var dropped = 0
        var started = false
        /// The flusher has been woken for a full buffer and has not flushed since.
        var woken = false
    }

    private let descriptor: Int32
    private let state = Mutex(State())
    /// Serializes writes to the descriptor (the flusher thread and explicit flushes).
    private let writing = Mutex(())
    /// Wakes the flusher before its interval is up.
    private let wake = DispatchSemaphore(value: 0)

    package init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Queues one line's bytes (with its newline). Never writes itself: a blocked stderr must
    /// cost the caller (an event loop) dropped lines, not a stall.
    package func write(_ line: [UInt8]) {
        let (startFlusher, wakeFlusher) = state.withLock { state -> (Bool, Bool) in
            if state.buffer.count + line.count > Self.maxBuffered {
                state.dropped += 1
                return (false, false)
            }
            state.buffer.append(contentsOf: line)
            let start = !state.started
            state.started = true
            let wakeNow = state.buffer.count >= Self.flushThreshold && !state.woken
            if wakeNow { state.woken = true }
            return (start, wakeNow)
        }
        if startFlusher { startFlushing() }
        if wakeFlusher { wake.signal() }
    }

    /// Writes everything queued now.
    public func flush() {
        writing.withLock { _ in
            let (bytes, dropped) = state.withLock { state -> ([UInt8], Int) in
                defer {
                    state.buffer.removeAll(keepingCapacity: true)
                    state.dropped = 0
                    state.woken = false
                }
                return (state.buffer, state.dropped)
            }
            var out = bytes
            if dropped > 0 { out += Array("log: \(dropped) lines dropped (stderr was not keeping up)\n".utf8) }
            out.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }

    private func startFlushing() {
        let thread = Thread { [self] in
            while true {
                _ = wake.wait(timeout: .now() + Self.interval)
                flush()
            }
        }
        thread.name = "log-sink"
        thread.start()
    }
}

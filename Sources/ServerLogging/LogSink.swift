import Dispatch
import Foundation
import Synchronization

/// Buffered stderr for log lines: handlers append under a lock, a background thread writes the
/// buffer every 50 ms (and is woken early past 256 KiB), so a line per call costs a copy, not a
/// syscall, and a caller never waits for stderr. Bounded: past 4 MiB waiting (stderr blocked),
/// new lines are dropped and counted. `finish(within:)` at exit writes what is left, giving up
/// after its time limit (stderr blocked must not hold a SIGTERM up until SIGKILL); a crash loses
/// at most the last 50 ms.
public final class LogSink: Sendable {
    public static let standardError = LogSink(descriptor: 2)

    static let flushThreshold = 256 * 1024
    package static let maxBuffered = 4 * 1024 * 1024
    static let interval = DispatchTimeInterval.milliseconds(50)

    private struct State {
        var buffer: [UInt8] = []
        var dropped = 0
        /// The format of the lines written, for the note of dropped ones (one line among them).
        var format = LogFormat.text
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
    package func write(_ line: [UInt8], format: LogFormat = .text) {
        let (startFlusher, wakeFlusher) = state.withLock { state -> (Bool, Bool) in
            state.format = format
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

    /// Writes everything queued now, waiting as long as stderr takes (the flusher thread; tests).
    package func flush() {
        writing.withLock { _ in
            let out = takeQueued()
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

    /// Writes what is queued before the process exits, for at most `limit`: if stderr does not
    /// take it by then (a log reader that stopped), the rest is dropped. Returns whether
    /// everything was written.
    @discardableResult
    public func finish(within limit: Duration = .seconds(2)) -> Bool {
        let deadline = ContinuousClock.now + limit
        while true {
            // The flusher may be blocked in write(2) holding `writing`: wait for it only so long.
            if let written = writing.withLockIfAvailable({ _ in writeBounded(takeQueued(), until: deadline) }) {
                return written
            }
            if ContinuousClock.now >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    /// The queued bytes (and a note of dropped lines), leaving the queue empty.
    private func takeQueued() -> [UInt8] {
        let (bytes, dropped, format) = state.withLock { state -> ([UInt8], Int, LogFormat) in
            defer {
                state.buffer.removeAll(keepingCapacity: true)
                state.dropped = 0
                state.woken = false
            }
            return (state.buffer, state.dropped, state.format)
        }
        var out = bytes
        if dropped > 0 {
            // In the lines' own format: a JSON log reader must be able to parse it too.
            var note = LogLine(
                format: format, level: .warning, label: "entitlement",
                message: "\(dropped) log lines dropped (stderr was not keeping up)")
            note.append("dropped", dropped)
            out += note.finish(source: "ServerLogging")
        }
        return out
    }

    /// Writes `bytes` in pieces stderr can take without blocking (`PIPE_BUF` once poll(2) says
    /// it is writable), until done or `deadline`.
    private func writeBounded(_ bytes: [UInt8], until deadline: ContinuousClock.Instant) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { return false }
                var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                let polled = poll(&ready, 1, Int32(min(left / .milliseconds(1), 60_000).rounded(.up)))
                if polled < 0, errno == EINTR { continue }
                guard polled > 0 else { return false }
                let written = Foundation.write(descriptor, raw.baseAddress! + offset, min(raw.count - offset, Int(PIPE_BUF)))
                if written < 0, errno == EINTR || errno == EAGAIN { continue }
                guard written > 0 else { return false }
                offset += written
            }
            return true
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

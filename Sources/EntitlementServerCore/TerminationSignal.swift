import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGTERM or SIGINT (the default actions are replaced, so the process can drain).
public func waitForTerminationSignal() async -> Int32 {
    await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
        let queue = DispatchQueue(label: "entitlement.signals")
        let resumed = ResumeOnce(continuation)
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { resumed.resume(signalNumber) }
            source.resume()
            resumed.keep(source)
        }
    }
}

/// Resumes a continuation at most once and keeps the signal sources alive meanwhile.
private final class ResumeOnce: Sendable {
    private struct State: @unchecked Sendable {
        // DispatchSourceSignal is not Sendable; the sources are only retained here, never used.
        var continuation: CheckedContinuation<Int32, Never>?
        var sources: [any DispatchSourceSignal] = []
    }

    private let state: Mutex<State>

    init(_ continuation: CheckedContinuation<Int32, Never>) {
        state = Mutex(State(continuation: continuation))
    }

    func keep(_ source: any DispatchSourceSignal) {
        state.withLock { $0.sources.append(source) }
    }

    func resume(_ signal: Int32) {
        state.withLock { state in
            state.continuation?.resume(returning: signal)
            state.continuation = nil
        }
    }
}

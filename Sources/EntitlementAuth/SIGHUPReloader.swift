import Dispatch
import Foundation
public import Logging
import Synchronization

/// Reloads a `TokenVerifier`'s JWKS on every SIGHUP, one reload at a time, until cancelled.
/// Keep it alive for as long as the server runs.
public final class SIGHUPReloader: Sendable {
    /// nil once cancelled. Dispatch sources are not Sendable; the mutex owns this one.
    private let source: Mutex<(any DispatchSourceSignal)?>
    private let signals: AsyncStream<Void>.Continuation
    private let task: Task<Void, Never>

    fileprivate init(verifier: TokenVerifier, logger: Logger) {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // Reloads run in signal order in this one task, so an older file never overwrites a newer one.
        task = Task {
            for await _ in stream {
                logger.notice("SIGHUP: reloading JWKS")
                // A failure is logged by reloadKeys; the previous keys stay in force.
                try? await verifier.reloadKeys()
            }
        }
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "entitlement.sighup"))
        source.setEventHandler { continuation.yield() }
        source.resume()
        self.source = Mutex(source)
        self.signals = continuation
    }

    /// Stops listening for SIGHUP (the signal stays ignored) and ends the reload task.
    public func cancel() {
        source.withLock { source in
            source?.cancel()
            source = nil
        }
        signals.finish()
    }

    deinit {
        cancel()
    }
}

/// Ignores SIGHUP's default action (terminate) and reloads `verifier`'s keys whenever it arrives.
public func installReloadOnSIGHUP(verifier: TokenVerifier, logger: Logger) -> SIGHUPReloader {
    SIGHUPReloader(verifier: verifier, logger: logger)
}

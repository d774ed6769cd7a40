public import Logging
import UnixSignals

/// Reloads a `TokenVerifier`'s JWKS on every SIGHUP (trapped through swift-service-lifecycle's
/// UnixSignals), one reload at a time and in signal order, so an older file never overwrites a
/// newer one. Keep it alive for as long as the server runs.
public final class SIGHUPReloader: Sendable {
    private let task: Task<Void, Never>

    fileprivate init(signals: UnixSignalsSequence, verifier: TokenVerifier, logger: Logger) {
        task = Task {
            for await _ in signals {
                logger.notice("SIGHUP: reloading JWKS")
                // A failure is logged by reloadKeys; the previous keys stay in force.
                try? await verifier.reloadKeys()
            }
        }
    }

    /// Stops reloading.
    public func cancel() {
        task.cancel()
    }

    deinit {
        task.cancel()
    }
}

/// Replaces SIGHUP's default action (terminate) with a reload of `verifier`'s keys; returns once
/// the signal is trapped.
public func installReloadOnSIGHUP(verifier: TokenVerifier, logger: Logger) async -> SIGHUPReloader {
    SIGHUPReloader(signals: await UnixSignalsSequence(trapping: .sighup), verifier: verifier, logger: logger)
}

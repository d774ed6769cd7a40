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

/// SIGHUP trapped before the reloader exists: its default action (terminate) would otherwise
/// kill a server still starting (a long import), as `systemctl reload` may send it any time.
/// Signals that arrive meanwhile wait for the reloader.
public struct TrappedHangups: Sendable {
    fileprivate let signals: UnixSignalsSequence

    /// Traps SIGHUP now; returns once it is trapped.
    public init() async {
        signals = await UnixSignalsSequence(trapping: .sighup)
    }
}

/// Replaces SIGHUP's default action (terminate) with a reload of `verifier`'s keys; returns once
/// the signal is trapped.
/// - Parameter trapped: SIGHUP as trapped earlier, whose waiting signals then reload too.
public func installReloadOnSIGHUP(
    verifier: TokenVerifier, logger: Logger, trapped: TrappedHangups? = nil
) async -> SIGHUPReloader {
    let signals: UnixSignalsSequence
    if let trapped { signals = trapped.signals } else { signals = await UnixSignalsSequence(trapping: .sighup) }
    return SIGHUPReloader(signals: signals, verifier: verifier, logger: logger)
}

import Synchronization

/// Decides a transaction's fate when its caller stops waiting for it: the call's deadline
/// passed, the caller cancelled, or the store's own deadline (`PostgresRequestStore.callDeadline`).
///
/// The caller is answered at once, but the work goes on in the background and would commit
/// later (the embedded store's next group commit; a PostgreSQL row lock freed), after the caller
/// was told it failed. The work passes the gate before it commits: a caller gone by then makes it
/// roll back (or not run) instead. Once the commit is under way it cannot be recalled, so a caller
/// that stops waiting then is told the outcome is unknown, and the work itself records the call
/// when the commit ends.
package final class CommitGate<Value: Sendable>: Sendable {
    /// What the caller learns when it stops waiting.
    package enum Abandonment {
        /// The work had not committed and now never will.
        case rolledBack
        /// COMMIT was sent and has not answered: the work records the call however it ends.
        case unconfirmed
        /// The work committed just as the caller gave up: its value stands.
        case committed(Value)
    }

    private enum Phase {
        case working, committing, committed(Value), failed, abandoned, abandonedWhileCommitting
    }

    package typealias CallerGone = CommitCallerGone

    private let phase = Mutex(Phase.working)
    private let onCommit: @Sendable () -> Void

    /// - Parameter onCommit: called as the work passes the gate (under its lock, so a caller
    ///   that gives up at the same moment either stops the work or sees this first).
    package init(onCommit: @escaping @Sendable () -> Void = {}) {
        self.onCommit = onCommit
    }

    /// Called by the work as its last step before COMMIT; throws `CallerGone` (which rolls the
    /// transaction back) if the caller has stopped waiting.
    package func enterCommit() throws {
        try phase.withLock { phase in
            if case .abandoned = phase { throw CallerGone() }
            onCommit()
            phase = .committing
        }
    }

    /// The work's COMMIT succeeded. Returns false when the caller stopped waiting meanwhile:
    /// the work then records the committed call itself.
    package func committed(_ value: Value) -> Bool {
        phase.withLock { phase in
            if case .abandonedWhileCommitting = phase { return false }
            phase = .committed(value)
            return true
        }
    }

    /// The work failed (before or at COMMIT). Returns false when the caller had been told the
    /// outcome was unknown: the work then records the failed call itself.
    package func failed() -> Bool {
        phase.withLock { phase in
            if case .abandonedWhileCommitting = phase { return false }
            phase = .failed
            return true
        }
    }

    /// The caller stops waiting (its deadline passed, or the work failed).
    package func abandon() -> Abandonment {
        phase.withLock { phase in
            switch phase {
            case .working:
                phase = .abandoned
                return .rolledBack
            case .committing:
                phase = .abandonedWhileCommitting
                return .unconfirmed
            case .committed(let value):
                return .committed(value)
            case .abandonedWhileCommitting:
                // Asked again (a cancel, then the deadline): still unknown.
                return .unconfirmed
            case .failed, .abandoned:
                return .rolledBack
            }
        }
    }
}

/// The work's caller stopped waiting before it committed; thrown by `CommitGate.enterCommit`
/// to roll the work back.
package struct CommitCallerGone: Error, CustomStringConvertible {
    package var description: String { "the caller stopped waiting before the commit" }
}

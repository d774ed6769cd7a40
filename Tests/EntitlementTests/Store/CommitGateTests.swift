import Entitlement
import Testing

/// The fate of a transaction whose caller stops waiting (`CommitGate`).
@Suite struct CommitGateTests {
    @Test func aCallerGoneBeforeTheCommitRollsTheWorkBack() {
        let gate = CommitGate<Int>()
        guard case .rolledBack = gate.abandon() else { Issue.record("expected rolledBack"); return }
        #expect(throws: CommitGate<Int>.CallerGone.self) { try gate.enterCommit() }
        // The work's failure was the caller's own abandonment: nothing more to record.
        #expect(gate.failed())
    }

    @Test func aCallerGoneDuringTheCommitHearsUnconfirmedAndTheWorkRecordsTheOutcome() throws {
        let committedLate = CommitGate<Int>()
        try committedLate.enterCommit()
        guard case .unconfirmed = committedLate.abandon() else { Issue.record("expected unconfirmed"); return }
        #expect(!committedLate.committed(7), "the work must record a commit its caller did not hear of")

        let failedLate = CommitGate<Int>()
        try failedLate.enterCommit()
        _ = failedLate.abandon()
        #expect(!failedLate.failed(), "the work must record a failure its caller did not hear of")
    }

    @Test func aCommitThatEndedAsTheDeadlinePassedStands() throws {
        let gate = CommitGate<Int>()
        try gate.enterCommit()
        #expect(gate.committed(42))
        guard case .committed(let value) = gate.abandon() else { Issue.record("expected committed"); return }
        #expect(value == 42)
    }

    @Test func aFailureTheCallerWaitedForIsItsOwnToRecord() throws {
        let gate = CommitGate<Int>()
        try gate.enterCommit()
        #expect(gate.failed())
        guard case .rolledBack = gate.abandon() else { Issue.record("expected rolledBack"); return }
    }
}

import Dispatch
import Foundation
import Synchronization

/// Runs the store's SQLite work on one dedicated thread and commits in groups: everything
/// submitted while a commit (and its fsync) is in progress goes into the next transaction. The
/// store actor never blocks on the disk, and many concurrent callers share one fsync.
///
/// Each operation runs inside its own SAVEPOINT (or is one statement, which SQLite applies all or
/// nothing), so one that fails rolls back alone, unless SQLite rolls the whole transaction back
/// (a full disk): then every operation of the batch fails. A caller resumes only after the whole
/// transaction has committed (or failed), i.e. once it is durable.
/// Under concurrent load the writer waits briefly for more callers before it opens a transaction
/// (see `Coalescing`), so one fsync serves more of them.
/// An operation may leave a line for the journal (`audit.log`): the lines of a committed
/// transaction are appended in one write, in commit order, before any of its callers resume.
final class SQLiteWriter: Sendable {
    /// The most operations one transaction carries.
    static let maxBatch = 256
    /// The most operations waiting for a transaction. Past it new work fails at once with
    /// `StoreError.overloaded` (UNAVAILABLE, which callers retry) instead of queueing without bound
    /// behind a slow disk.
    let maxPending: Int

    private struct Operation: Sendable {
        /// Runs the work in the open transaction; returns how to resume the caller once the
        /// transaction's fate (nil: committed) is known, and the journal line if it succeeded.
        let apply: @Sendable (SQLiteDatabase) -> Applied
        let fail: @Sendable (any Error) -> Void
    }

    private enum ThreadState { case notStarted, running, ended }

    /// When the last transaction carried at least `minBatch` operations, callers are arriving
    /// concurrently; if fewer than half that many wait now, the writer sleeps `wait` before it
    /// opens the next one. Each commit's fsync costs CPU whatever it carries, and a commit that
    /// starts with one caller leaves the rest of the crowd to wait a whole fsync for the next. A
    /// caller on its own (batches of 1) never waits, nor the first after a quiet spell (no commit
    /// within `fresh`). Tuned on Step 10's Reprocess benchmark (docs/benchmarks.md).
    struct Coalescing: Sendable {
        var minBatch = 32
        var wait = Duration.milliseconds(1)
        var fresh = Duration.milliseconds(10)
    }

    /// The previous transaction, as coalescing judges the load by it.
    private struct LastCommit {
        var size = 0
        var ended = ContinuousClock.now
    }

    private struct Applied {
        let resume: @Sendable ((any Error)?) -> Void
        let journalLine: [UInt8]?

        /// An operation not run, because its transaction was already lost (its COMMIT then fails too).
        static func failing(_ operation: Operation) -> Applied {
            Applied(
                resume: { commitError in
                    operation.fail(commitError ?? StoreError.io("SQLite rolled the transaction back first"))
                }, journalLine: nil)
        }
    }

    private struct State {
        var pending: [Operation] = []
        var draining = false
        var closed = false
        /// Who waits for the thread to finish what was submitted and close the database.
        var closers: [CheckedContinuation<Void, Never>] = []
        /// Started on first use: a writer that is never used (a store that failed to open) has
        /// no thread to leave behind.
        var thread = ThreadState.notStarted

        /// Whether the caller is the one to start the thread (the first to need it).
        mutating func needsThread() -> Bool {
            guard thread == .notStarted else { return false }
            thread = .running
            return true
        }
        /// Transactions still to fail on purpose (tests of what a failed commit leaves behind).
        var injectedCommitFailures = 0
    }

    // Used only on the writer thread.
    nonisolated(unsafe) private let database: SQLiteDatabase
    private let state = Mutex(State())
    /// Wakes the writer thread: work was submitted to an idle writer, or close was asked for.
    private let wake = DispatchSemaphore(value: 0)
    private let coalescing: Coalescing
    private let lastCommitFailed = Atomic<Bool>(false)

    /// False while the most recent transaction failed to commit (health reports NOT_SERVING).
    var isCommitting: Bool { !lastCommitFailed.load(ordering: .relaxed) }

    private let metrics: StoreMetrics
    /// Where committed operations' journal lines go.
    private let journal: AuditLogFile?

    init(
        database: SQLiteDatabase, maxPending: Int = 4_096, metrics: StoreMetrics = .disabled,
        journal: AuditLogFile? = nil, coalescing: Coalescing = Coalescing()
    ) {
        self.coalescing = coalescing
        self.database = database
        self.maxPending = maxPending
        self.metrics = metrics
        self.journal = journal
    }

    /// Operations waiting for their transaction now.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Runs `work` on the writer thread inside a transaction and returns its result once that
    /// transaction has committed.
    /// - Parameters:
    ///   - singleStatement: the work changes the database with one statement at most, which SQLite
    ///     applies all or nothing: it needs no savepoint of its own (two statements fewer, ~1 µs
    ///     of the writer per audit-only Reprocess call).
    ///   - journalLine: the line (with its newline) to append to the journal for the work's
    ///     result once the transaction has committed; not called if the work failed.
    func perform<T: Sendable>(
        singleStatement: Bool = false,
        _ work: @escaping @Sendable (SQLiteDatabase) throws -> T,
        journalLine: (@Sendable (T) -> [UInt8])? = nil
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let operation = Operation(
                apply: { database in
                    let result: Result<T, any Error>
                    if singleStatement {
                        result = Result { try work(database) }
                    } else {
                        do {
                            try database.run("SAVEPOINT operation")
                            let value = try work(database)
                            try database.run("RELEASE operation")
                            result = .success(value)
                        } catch {
                            try? database.run("ROLLBACK TO operation")
                            try? database.run("RELEASE operation")
                            result = .failure(error)
                        }
                    }
                    let line = journalLine.flatMap { line in (try? result.get()).map(line) }
                    return Applied(
                        resume: { commitError in
                            if let commitError {
                                continuation.resume(throwing: commitError)
                            } else {
                                continuation.resume(with: result)
                            }
                        }, journalLine: line)
                },
                fail: { continuation.resume(throwing: $0) }
            )
            enqueue(operation)
        }
    }

    /// Makes the next `count` transactions fail at COMMIT (and roll back), as a full disk would.
    /// For tests only.
    func injectCommitFailures(_ count: Int) {
        state.withLock { $0.injectedCommitFailures += count }
    }

    /// Finishes what was submitted, then closes the database and ends the writer thread; later
    /// work fails.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (ended, start) = state.withLock { state -> (Bool, Bool) in
                state.closed = true
                if state.thread == .ended { return (true, false) }
                state.closers.append(continuation)
                return (false, state.needsThread())
            }
            if ended { return continuation.resume() }
            // Even a writer never used closes its database on the thread that owns it.
            if start { startThread() }
            wake.signal()
        }
    }

    /// A thread of its own, not a dispatch queue: its work is blocking disk I/O (fsync), and
    /// commits then make progress without depending on dispatch's shared worker pool.
    private func startThread() {
        Thread { [self] in
            Thread.current.name = "sqlite-writer"
            runWriterThread()
        }.start()
    }

    /// The writer thread: drains whenever woken, until close is asked for.
    private func runWriterThread() {
        var last = LastCommit()
        while true {
            wake.wait()
            drain(last: &last)
            // Work admitted just before close may have arrived after `drain` looked: it was
            // signalled too, so the next turn drains it before the thread ends.
            let closers = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
                guard state.closed, !state.closers.isEmpty, state.pending.isEmpty else { return nil }
                state.thread = .ended
                defer { state.closers.removeAll() }
                return state.closers
            }
            guard let closers else { continue }
            database.close()
            for closer in closers { closer.resume() }
            return
        }
    }

    private func enqueue(_ operation: Operation) {
        enum Admission { case queued, wakeWriter(start: Bool), closed, full }
        let admission = state.withLock { state -> Admission in
            if state.closed { return .closed }
            if state.pending.count >= maxPending { return .full }
            state.pending.append(operation)
            if state.draining { return .queued }
            state.draining = true
            return .wakeWriter(start: state.needsThread())
        }
        switch admission {
        case .queued: break
        case .wakeWriter(let start):
            if start { startThread() }
            wake.signal()
        case .closed: operation.fail(StoreError.io("the store is closed"))
        case .full: operation.fail(StoreError.overloaded(pending: maxPending))
        }
    }

    /// Sleeps `coalescing.wait` when fewer than `target` operations are pending: the core goes to
    /// the callers still on their way. A sleep, not a wake-up per arrival: waking this thread
    /// each time preempts the event loop that is producing them (measured: no gain).
    private func awaitArrivals(target: Int) {
        guard state.withLock({ $0.pending.count < target && !$0.closed }) else { return }
        usleep(UInt32(coalescing.wait / .microseconds(1)))
    }

    /// Commits batches until nothing is pending. Runs on the writer thread only.
    /// - Parameter last: the previous transaction, across drains.
    private func drain(last: inout LastCommit) {
        while true {
            if last.size >= coalescing.minBatch, ContinuousClock.now - last.ended < coalescing.fresh {
                awaitArrivals(target: last.size / 2)
            }
            let (batch, failOnPurpose) = state.withLock { state -> ([Operation], Bool) in
                let count = min(state.pending.count, Self.maxBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                if batch.isEmpty { state.draining = false }
                let fail = !batch.isEmpty && state.injectedCommitFailures > 0
                if fail { state.injectedCommitFailures -= 1 }
                return (batch, fail)
            }
            if batch.isEmpty { return }
            let started = ContinuousClock.now
            do {
                try database.run("BEGIN IMMEDIATE")
            } catch {
                for operation in batch { operation.fail(error) }
                continue
            }
            let applied = batch.map { operation in
                // SQLite may roll the whole transaction back itself (a full disk): the operations
                // after that would each commit on their own, outside it, while their callers are
                // told the commit failed. They fail instead, unrun.
                database.isInTransaction ? operation.apply(database) : Applied.failing(operation)
            }
            var commitError: (any Error)?
            do {
                if failOnPurpose { throw StoreError.io("commit failed on purpose (injected)") }
                try database.run("COMMIT")
            } catch {
                try? database.run("ROLLBACK")
                commitError = error
            }
            if commitError == nil, let journal {
                var lines: [UInt8] = []
                lines.reserveCapacity(applied.reduce(0) { $0 + ($1.journalLine?.count ?? 0) })
                for op in applied { lines += op.journalLine ?? [] }
                if !lines.isEmpty { journal.append(lines: lines) }
            }
            lastCommitFailed.store(commitError != nil, ordering: .relaxed)
            let ended = ContinuousClock.now
            metrics.commitSeconds.recordNanoseconds(Int64((ended - started) / .nanoseconds(1)))
            metrics.commitBatchSize.record(batch.count)
            last = LastCommit(size: batch.count, ended: ended)
            for op in applied { op.resume(commitError) }
        }
    }
}

import NIOCore
import Synchronization

/// Runs Swift tasks on a NIO event loop, so a handler's task starts and finishes on the thread
/// that owns its connection instead of paying two thread hops per call.
///
/// Jobs queue here and one loop task runs every job queued by the time it starts: a read that
/// dispatches sixteen calls hands the loop one closure, not sixteen (a closure is an allocation).
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop
    let lifetime: LoopLifetime

    private struct Queue {
        var jobs: [UnownedJob] = []
        /// A loop task is scheduled and has not yet taken the jobs.
        var drainScheduled = false
    }

    private let queue = Mutex(Queue())
    /// The batch being run, swapped with the queue's array so neither is reallocated per batch.
    /// Touched only by `drain`, on the loop.
    nonisolated(unsafe) private var running: [UnownedJob] = []

    init(loop: any EventLoop, lifetime: LoopLifetime) {
        self.loop = loop
        self.lifetime = lifetime
    }

    func enqueue(_ job: consuming ExecutorJob) {
        if lifetime.isStopped {
            // The server waited for its handlers before stopping the loops; a straggler finishes
            // on the global executor rather than on a loop that no longer runs anything.
            globalConcurrentExecutor.enqueue(job)
            return
        }
        let job = UnownedJob(job)
        let schedule = queue.withLock { queue in
            queue.jobs.append(job)
            defer { queue.drainScheduled = true }
            return !queue.drainScheduled
        }
        if schedule { loop.execute { self.drain() } }
        // The loops stopped while the jobs waited: the scheduled drain may never run, so the
        // queue goes to the global executor. Taken under the lock, each job runs exactly once.
        if lifetime.isStopped {
            let stranded = queue.withLock { queue in
                defer { queue.jobs.removeAll() }
                return queue.jobs
            }
            for job in stranded { globalConcurrentExecutor.enqueue(job) }
        }
    }

    /// Runs the jobs queued so far, in order; jobs they enqueue wait for the next loop task, so
    /// other channels' I/O is not starved by a chain of hops.
    private func drain() {
        queue.withLock { queue in
            swap(&queue.jobs, &running)
            queue.drainScheduled = false
        }
        for job in running { job.runSynchronously(on: asUnownedTaskExecutor()) }
        running.removeAll(keepingCapacity: true)
    }
}

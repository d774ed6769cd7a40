import NIOCore

/// Runs Swift tasks on a NIO event loop, so a handler's task starts and finishes on the thread
/// that owns its connection instead of paying two thread hops per call.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop
    let lifetime: LoopLifetime

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
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

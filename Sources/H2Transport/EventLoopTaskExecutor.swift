import NIOCore

/// Runs Swift tasks on a NIO event loop, so a handler's task starts and finishes on the thread
/// that owns its connection instead of paying two thread hops per call.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

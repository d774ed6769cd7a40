import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import H2Transport

@Suite("EventLoopTaskExecutor")
struct EventLoopTaskExecutorTests {
    actor Elsewhere {
        func touch() {}
    }

    /// What the tasks saw, shared with them.
    final class Record: Sendable {
        let order = Mutex<[Int]>([])
        let offLoop = Atomic<Int>(0)
    }

    @Test("tasks run on the loop, in the order they were enqueued, batched or not")
    func runsOnTheLoopInOrder() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let executor = EventLoopTaskExecutor(loop: loop, lifetime: LoopLifetime())
        let record = Record()
        // Enqueued from the loop itself, as a connection dispatches calls: one batch.
        let tasks = try await loop.submit {
            (0..<100).map { i in
                Task(executorPreference: executor) {
                    if !loop.inEventLoop { record.offLoop.add(1, ordering: .relaxed) }
                    record.order.withLock { $0.append(i) }
                }
            }
        }.get()
        for task in tasks { await task.value }
        #expect(record.order.withLock { $0 } == Array(0..<100))
        #expect(record.offLoop.load(ordering: .relaxed) == 0)
        try await group.shutdownGracefully()
    }

    @Test("a task hopping to an actor and back many times keeps coming back to the loop")
    func hopsReturnToTheLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let executor = EventLoopTaskExecutor(loop: loop, lifetime: LoopLifetime())
        let elsewhere = Elsewhere()
        let onLoop = await Task(executorPreference: executor) { () -> Int in
            var count = 0
            for _ in 0..<200 {
                await elsewhere.touch()
                if loop.inEventLoop { count += 1 }
            }
            return count
        }.value
        #expect(onLoop == 200)
        try await group.shutdownGracefully()
    }
}

import Foundation

/// A real gRPC peer (Tests/Interop/peer_server.py on grpcio) in a child process, for the length of
/// `body`. Fails the test with what to install when python3 or grpcio is missing.
func withGRPCioPeer<R>(_ body: (Int) async throws -> R) async throws -> R {
    let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", root.appendingPathComponent("Tests/Interop/peer_server.py").path]
    let stdin = Pipe()
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    // The peer's pipes are read on a thread of their own: a blocking read on the concurrency
    // pool (as wide as the cores) would hold up every other test until python has started.
    let stop: @Sendable () async -> Void = {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        await onOwnThread { process.waitUntilExit() }
    }
    // The first line is `READY <port>`; anything else means the peer could not start.
    let text = await onOwnThread {
        var line = Data()
        while let byte = try? stdout.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }
    guard text.hasPrefix("READY "), let port = Int(text.dropFirst(6)) else {
        await stop()
        let error = String(decoding: stderr.fileHandleForReading.availableData, as: UTF8.self)
        throw PeerError(
            "the grpcio peer did not start (needs python3 with grpcio grpcio-tools PyJWT cryptography h2: "
                + "python3 -m pip install grpcio grpcio-tools PyJWT cryptography h2): \(error)")
    }
    do {
        let result = try await body(port)
        await stop()
        return result
    } catch {
        await stop()
        throw error
    }
}

/// Runs blocking work (a child process's pipes) on a new thread, off the concurrency pool.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in Thread { continuation.resume(returning: work()) }.start() }
}

struct PeerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

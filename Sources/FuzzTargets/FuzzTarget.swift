import Dispatch

/// One fuzz target: its name is the libFuzzer executable's (`FuzzTesting/`) and its corpus and
/// crasher directories' (`FuzzTesting/Corpus/<name>/`, `FuzzTesting/Crashers/<name>/`).
public enum FuzzTarget: String, CaseIterable, Sendable {
    case protoDecode = "FuzzProtoDecode"
    case deframer = "FuzzDeframer"
    case pageToken = "FuzzPageToken"
    case authorization = "FuzzAuthorization"
    case importJSON = "FuzzImportJSON"

    /// Runs one input; true when the input was accepted (decoded, parsed, verified). Traps when an
    /// invariant fails: that trap is what the fuzzer reports.
    @discardableResult
    public func run(_ bytes: [UInt8]) async -> Bool {
        switch self {
        case .protoDecode: bytes.withUnsafeBytes { FuzzTargets.protoDecode($0) }
        case .deframer: bytes.withUnsafeBytes { FuzzTargets.deframer($0) }
        case .pageToken: bytes.withUnsafeBytes { FuzzTargets.pageToken($0) }
        case .authorization: await FuzzTargets.authorization(bytes)
        case .importJSON: bytes.withUnsafeBytes { FuzzTargets.importJSON($0) }
        }
    }

    /// The body of `LLVMFuzzerTestOneInput`. Blocks the calling thread for the asynchronous
    /// target, so call it from libFuzzer's thread only, never from a task.
    public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        let bytes = UnsafeRawBufferPointer(start: data, count: size)
        switch self {
        case .protoDecode: FuzzTargets.protoDecode(bytes)
        case .deframer: FuzzTargets.deframer(bytes)
        case .pageToken: FuzzTargets.pageToken(bytes)
        case .importJSON: FuzzTargets.importJSON(bytes)
        case .authorization:
            let copy = [UInt8](bytes)
            let done = DispatchSemaphore(value: 0)
            Task {
                await FuzzTargets.authorization(copy)
                done.signal()
            }
            done.wait()
        }
        return 0
    }
}

/// The fuzz targets' one-input functions, shared by the libFuzzer executables in `FuzzTesting/`
/// and by `FuzzReplayTests`, which replays the committed corpus and crashers through them.
public enum FuzzTargets {}

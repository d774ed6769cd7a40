import Synchronization

/// Headers and trailers a handler adds to its response. A reference so it survives the context
/// being copied through interceptors; the transport reads it once the handler returns.
public final class ResponseMetadata: Sendable {
    private struct State {
        var headers = Metadata()
        var trailers = Metadata()
    }

    private let state = Mutex(State())

    public init() {}

    public func addHeader(_ value: Metadata.Value, forKey key: String) {
        state.withLock { $0.headers.add(value, forKey: key) }
    }

    public func addTrailer(_ value: Metadata.Value, forKey key: String) {
        state.withLock { $0.trailers.add(value, forKey: key) }
    }

    public var headers: Metadata { state.withLock { $0.headers } }
    public var trailers: Metadata { state.withLock { $0.trailers } }
}

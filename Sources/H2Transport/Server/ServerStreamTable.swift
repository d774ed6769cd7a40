/// A connection's open streams by id, remembering the last one looked up: nghttp2 calls back
/// several times in a row for one stream (each header, then the frame, then its data), so most
/// lookups compare one id instead of hashing into the dictionary. Lives on the connection's loop.
struct ServerStreamTable {
    private var byID: [Int32: ServerStream] = [:]
    /// The stream most recently looked up or added; always one `byID` holds.
    private var recent: ServerStream?

    var isEmpty: Bool { byID.isEmpty }
    var count: Int { byID.count }
    var values: Dictionary<Int32, ServerStream>.Values { byID.values }

    subscript(id: Int32) -> ServerStream? {
        mutating get {
            if let recent, recent.id == id { return recent }
            let found = byID[id]
            if found != nil { recent = found }
            return found
        }
    }

    mutating func add(_ stream: ServerStream) {
        byID[stream.id] = stream
        recent = stream
    }

    mutating func remove(_ id: Int32) -> ServerStream? {
        if recent?.id == id { recent = nil }
        return byID.removeValue(forKey: id)
    }

    mutating func removeAll() {
        recent = nil
        byID.removeAll()
    }
}

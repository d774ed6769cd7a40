import EntitlementAPI

/// One access package's requests in listing order: one sorted array of all keys and one per
/// state, so a page is a binary search plus a walk of the page (a merge across the asked-for
/// states), whatever the filter.
struct RequestIndex: Sendable {
    private var all: [ListingKey] = []
    private var byState: [Int32: [ListingKey]] = [:]

    var count: Int { all.count }

    mutating func insert(_ key: ListingKey, state: RequestState) {
        Self.insert(key, into: &all)
        Self.insert(key, into: &byState[state.rawValue, default: []])
    }

    /// Moves a request from one state's array to another's.
    mutating func move(_ key: ListingKey, from old: RequestState, to new: RequestState) {
        guard old != new else { return }
        // Mutated in place through the subscript, so the array is not copied.
        Self.remove(key, from: &byState[old.rawValue, default: []])
        Self.insert(key, into: &byState[new.rawValue, default: []])
    }

    /// Up to `limit` keys listed after `cursor` (from the start when nil) whose state is one of
    /// `states` (all states when empty), and whether more follow.
    func page(states: [RequestState], after cursor: ListingKey?, limit: Int) -> (keys: [ListingKey], hasMore: Bool) {
        if states.isEmpty {
            let start = cursor.map { Self.upperBound($0, in: all) } ?? 0
            let end = min(all.count, start + limit)
            return (Array(all[start..<end]), end < all.count)
        }
        // A k-way merge over the (few) per-state arrays, each already in listing order.
        var lists: [(keys: [ListingKey], position: Int)] = states.compactMap { state in
            guard let keys = byState[state.rawValue], !keys.isEmpty else { return nil }
            return (keys, cursor.map { Self.upperBound($0, in: keys) } ?? 0)
        }
        var result: [ListingKey] = []
        result.reserveCapacity(min(limit, 1_024))
        while true {
            var best: Int?
            for (i, list) in lists.enumerated() where list.position < list.keys.count {
                if let b = best, !(list.keys[list.position] < lists[b].keys[lists[b].position]) { continue }
                best = i
            }
            guard let chosen = best else { return (result, false) }
            if result.count == limit { return (result, true) }
            result.append(lists[chosen].keys[lists[chosen].position])
            lists[chosen].position += 1
        }
    }

    private static func insert(_ key: ListingKey, into keys: inout [ListingKey]) {
        let position = lowerBound(key, in: keys)
        if position < keys.count, keys[position] == key { return }
        keys.insert(key, at: position)
    }

    private static func remove(_ key: ListingKey, from keys: inout [ListingKey]) {
        let position = lowerBound(key, in: keys)
        if position < keys.count, keys[position] == key { keys.remove(at: position) }
    }

    /// The first position whose key is not listed before `key`.
    private static func lowerBound(_ key: ListingKey, in keys: [ListingKey]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The first position whose key is listed after `key`.
    private static func upperBound(_ key: ListingKey, in keys: [ListingKey]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if key < keys[mid] { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

import EntitlementAPI
import ProtoWire

/// Randomly populated messages for round-trip and fuzz tests (deterministic for a given generator).
extension SplitMix64 {
    mutating func nested() -> Nested {
        var n = Nested()
        if chance(0.7) { n.value = int() }
        if chance(0.7) { n.name = string() }
        return n
    }

    /// A Scalars message with a random subset of fields set; maps hold at most `maxMapEntries`.
    mutating func scalars(maxRepeated: Int = 4, maxMapEntries: Int = 3) -> Scalars {
        var m = Scalars()
        let p = 0.5
        if chance(p) { m.int32Value = int() }
        if chance(p) { m.int64Value = int() }
        if chance(p) { m.uint32Value = int() }
        if chance(p) { m.uint64Value = int() }
        if chance(p) { m.sint32Value = int() }
        if chance(p) { m.sint64Value = int() }
        if chance(p) { m.boolValue = chance(0.5) }
        if chance(p) { m.enumValue = Color(rawValue: Int32.random(in: -2...5, using: &self)) }
        if chance(p) { m.fixed32Value = int() }
        if chance(p) { m.fixed64Value = int() }
        if chance(p) { m.sfixed32Value = int() }
        if chance(p) { m.sfixed64Value = int() }
        if chance(p) { m.floatValue = float() }
        if chance(p) { m.doubleValue = double() }
        if chance(p) { m.stringValue = string() }
        if chance(p) { m.bytesValue = bytes() }
        m.repeatedInt32 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedInt64 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedUint32 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedUint64 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedSint32 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedSint64 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedBool = array(maxCount: maxRepeated) { $0.chance(0.5) }
        m.repeatedEnum = array(maxCount: maxRepeated) { Color(rawValue: Int32.random(in: -1...4, using: &$0)) }
        m.repeatedFixed32 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedFixed64 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedSfixed32 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedSfixed64 = array(maxCount: maxRepeated) { $0.int() }
        m.repeatedFloat = array(maxCount: maxRepeated) { $0.float() }
        m.repeatedDouble = array(maxCount: maxRepeated) { $0.double() }
        m.repeatedString = array(maxCount: maxRepeated) { $0.string() }
        m.repeatedBytes = array(maxCount: maxRepeated) { $0.bytes() }
        if chance(p) { m.nested = nested() }
        m.nestedList = array(maxCount: maxRepeated) { $0.nested() }
        for _ in 0..<Int.random(in: 0...maxMapEntries, using: &self) { m.stringToInt[string()] = int() }
        for _ in 0..<Int.random(in: 0...maxMapEntries, using: &self) { m.intToNested[int()] = nested() }
        if chance(p) { m.optionalInt32 = int() }
        switch Int.random(in: 0..<4, using: &self) {
        case 0: m.choice = .choiceName(string())
        case 1: m.choice = .choiceNested(nested())
        case 2: m.choice = .choiceNumber(int())
        default: break
        }
        m.unpackedInt32 = array(maxCount: maxRepeated) { $0.int() }
        if chance(0.2) { m.maxFieldNumber = int() }
        return m
    }

    mutating func timestamp() -> Timestamp {
        Timestamp(seconds: int(), nanos: int())
    }

    mutating func accessPackageRequest() -> AccessPackageRequest {
        var r = AccessPackageRequest()
        if chance(0.8) { r.id = string() }
        if chance(0.8) { r.accessPackageId = string() }
        if chance(0.5) { r.catalogId = string() }
        if chance(0.7) {
            var s = Subject()
            s.id = string()
            s.displayName = string()
            s.principalName = string()
            r.requestor = s
        }
        if chance(0.8) { r.state = RequestState(rawValue: Int32.random(in: -1...11, using: &self)) }
        if chance(0.7) { r.createdAt = timestamp() }
        if chance(0.5) { r.completedAt = timestamp() }
        r.resources = array(maxCount: 4) { rng in
            var d = ResourceDelivery()
            d.resourceId = rng.string()
            d.displayName = rng.string()
            d.resourceType = rng.string(maxLength: 4)
            d.state = ResourceDeliveryState(rawValue: Int32.random(in: 0...4, using: &rng))
            d.error = rng.chance(0.3) ? rng.string() : ""
            d.attempts = rng.int()
            return d
        }
        if chance(0.5) { r.reprocessCount = int() }
        if chance(0.4) { r.lastReprocessedAt = timestamp() }
        return r
    }
}

extension Scalars {
    /// A copy with NaNs replaced by a fixed number, so `==` can compare decoded values.
    var withoutNaN: Scalars {
        var m = self
        func fix(_ f: Float) -> Float { f.isNaN ? 12_345 : f }
        func fix(_ d: Double) -> Double { d.isNaN ? 12_345 : d }
        m.floatValue = fix(m.floatValue)
        m.doubleValue = fix(m.doubleValue)
        m.repeatedFloat = m.repeatedFloat.map(fix)
        m.repeatedDouble = m.repeatedDouble.map(fix)
        return m
    }
}

import Foundation

/// RFC 7519 §4: a JWT whose header or claims repeat a member name must be refused (or read
/// with the last copy winning). JSON parsers disagree on which copy wins — ours keeps the
/// first, most others the last — so a token could mean one thing to a proxy and another here.
enum RepeatedMembers {
    /// The first member name the top level of a JSON object repeats, if any. Names are compared
    /// unescaped (`"\u0069ss"` is `iss`). Nested objects may reuse their parent's names.
    static func first(inObject json: [UInt8]) -> String? {
        var names = Set<String>()
        var depth = 0
        var expectingName = false
        var i = 0
        while i < json.count {
            switch json[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                expectingName = depth == 1 && json[i] == UInt8(ascii: "{")
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectingName = true }
            case UInt8(ascii: "\""):
                let start = i
                var escaped = false
                i += 1
                while i < json.count, json[i] != UInt8(ascii: "\"") {
                    if json[i] == UInt8(ascii: "\\") {
                        escaped = true
                        i += 1
                    }
                    i += 1
                }
                guard i < json.count else { return nil }  // unterminated: the decoder refuses it
                if depth == 1, expectingName {
                    expectingName = false
                    let name = escaped ? unescaped(json[start...i]) : String(decoding: json[(start + 1)..<i], as: UTF8.self)
                    if let name, !names.insert(name).inserted { return name }
                }
            default:
                break
            }
            i += 1
        }
        return nil
    }

    private static func unescaped(_ quoted: ArraySlice<UInt8>) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(quoted), options: .fragmentsAllowed)) as? String
    }
}

@testable import Entitlement
import Foundation
import Testing

@Suite("The import's JSON parser")
struct JSONParserTests {
    static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBytes { raw in try JSONParser.parse(raw) }
    }

    static func error(_ bytes: [UInt8]) -> String? {
        do {
            _ = try parse(bytes)
            return nil
        } catch {
            return (error as? ImportError)?.message ?? "\(error)"
        }
    }

    static func error(_ text: String) -> String? { error(Array(text.utf8)) }

    @Test(
        "the first syntax error is reported with line and column",
        arguments: [
            ("{\"catalogs\": [}", "line 1, column 15: unexpected character '}'; expected a value"),
            ("{\n  \"a\": 1,\n  \"b\" 2\n}", "line 3, column 7: expected ':' after the key"),
            ("{\"a\": [1, 2", "line 1, column 12: unexpected end of file; expected ',' or ']'"),
            ("{\"a\": \"open", "line 1, column 7: unterminated string"),
            ("{} x", "line 1, column 4: unexpected text after the end of the document"),
            ("{\"a\": 1, \"a\": 2}", "line 1, column 10: duplicate key \"a\""),
            ("[01]", "line 1, column 2: malformed number '01'"),
            ("[1.]", "line 1, column 2: malformed number '1.'"),
            ("[-]", "line 1, column 2: malformed number '-'"),
            ("[1e999]", "line 1, column 2: number '1e999' is out of range"),
            ("[tru]", "line 1, column 2: expected 'true'"),
            ("[\"a\\x\"]", "line 1, column 4: invalid escape \\x in a string"),
            ("[\"\\ud800\"]", "line 1, column 3: a \\u escape is half of a surrogate pair"),
            ("[\"\\u12\"]", "line 1, column 3: a \\u escape needs four hex digits"),
            ("[\"a\nb\"]", "line 1, column 4: control character inside a string"),
            ("", "line 1, column 1: unexpected end of file; expected a value"),
            ("{\"a\" : 1 2}", "line 1, column 10: expected ',' or '}'"),
            ("{1: 2}", "line 1, column 2: expected a quoted key"),
        ]
    )
    func locatesError(text: String, expected: String) {
        #expect(Self.error(text) == "not valid JSON at \(expected)")
    }

    @Test("a huge out-of-range number is quoted clipped, not whole")
    func hugeNumber() throws {
        let message = try #require(Self.error("[1" + String(repeating: "0", count: 100_000) + "e999]"))
        #expect(message.hasSuffix("is out of range") && message.utf8.count < 1_000)
    }

    @Test("nesting is bounded")
    func depth() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(Self.error(deep) == "not valid JSON at line 1, column 513: nested deeper than 512 levels")
        let fine = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(Self.error(fine) == nil)
    }

    @Test("invalid UTF-8 in a string is refused")
    func invalidUTF8() {
        let bytes: [UInt8] = Array("[\"a".utf8) + [0xC3, 0x28] + Array("\"]".utf8)
        #expect(Self.error(bytes) == "not valid JSON at line 1, column 2: a string is not valid UTF-8")
    }

    @Test("values: integers stay exact, escapes decode, whitespace anywhere")
    func values() throws {
        let value = try Self.parse(
            " {\"i\": 9007199254740993, \"n\": -0, \"d\": -2.5e3, \"t\": true, \"f\": false, \"z\": null,"
                + " \"s\": \"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\", \"u\": \"héllo\", \"a\": [ ], \"o\": { } }\n")
        guard case .object(let fields) = value else {
            Issue.record("not an object: \(value)")
            return
        }
        guard case .integer(9_007_199_254_740_993) = fields["i"], case .integer(0) = fields["n"],
            case .double(-2500) = fields["d"], case .bool(true) = fields["t"], case .bool(false) = fields["f"],
            case .null = fields["z"], case .string("q\"b\\s/\u{8}\u{C}\n\r\té😀") = fields["s"],
            case .string("héllo") = fields["u"], case .array(let empty) = fields["a"], empty.isEmpty,
            case .object(let none) = fields["o"], none.isEmpty
        else {
            Issue.record("unexpected values: \(fields)")
            return
        }
    }

    @Test("the streamed array's elements arrive one by one, in order, and read as empty in the result")
    func streaming() throws {
        let text = #"{"before": [1], "requests": [{"id": "a"}, 2, [3]], "after": "x"}"#
        var seen: [(String, Int)] = []
        let root = try Array(text.utf8).withUnsafeBytes { raw in
            try JSONParser.parseObject(raw, streaming: "requests") { value, index in
                seen.append((value.typeName, index))
            }
        }
        #expect(seen.map(\.0) == ["an object", "a number", "an array"])
        #expect(seen.map(\.1) == [0, 1, 2])
        guard case .object(let fields) = root, case .array(let streamed) = fields["requests"], streamed.isEmpty,
            case .array(let before) = fields["before"], before.count == 1, case .string("x") = fields["after"]
        else {
            Issue.record("unexpected root: \(root)")
            return
        }
    }

    @Test("a non-array under the streamed key is returned whole; a syntax error after streamed elements still wins")
    func streamingEdges() {
        var count = 0
        let root = try? Array(#"{"requests": {"a": 1}}"#.utf8).withUnsafeBytes { raw in
            try JSONParser.parseObject(raw, streaming: "requests") { _, _ in count += 1 }
        }
        guard case .object(let fields)? = root, case .object = fields["requests"] else {
            Issue.record("the object under requests was not kept: \(String(describing: root))")
            return
        }
        #expect(count == 0)
        let broken = Array(#"{"requests": [1, 2], "x": }"#.utf8)
        #expect(throws: ImportError.self) {
            try broken.withUnsafeBytes { raw in
                _ = try JSONParser.parseObject(raw, streaming: "requests") { _, _ in }
            }
        }
    }

    @Test("it reads what Foundation's JSONSerialization writes")
    func agreesWithFoundation() throws {
        let object: [String: Any] = [
            "ids": (0..<50).map { "req-\($0)-\u{1F600}\"\\\n" }, "n": 12_345, "x": 0.5, "nested": ["a": ["b": [true, NSNull()]]],
        ]
        let data = try JSONSerialization.data(withJSONObject: object)
        let value = try Self.parse([UInt8](data))
        guard case .object(let fields) = value, case .array(let ids) = fields["ids"], ids.count == 50,
            case .string("req-7-\u{1F600}\"\\\n") = ids[7], case .integer(12_345) = fields["n"],
            case .double(0.5) = fields["x"]
        else {
            Issue.record("unexpected: \(value)")
            return
        }
    }
}

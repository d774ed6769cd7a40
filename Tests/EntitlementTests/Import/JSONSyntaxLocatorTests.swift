@testable import Entitlement
import Testing

@Suite("JSON syntax errors name the place")
struct JSONSyntaxLocatorTests {
    @Test(
        "the first syntax error is reported with line and column",
        arguments: [
            ("{\"catalogs\": [}", "line 1, column 15: unexpected character '}'; expected a value"),
            ("{\n  \"a\": 1,\n  \"b\" 2\n}", "line 3, column 7: expected ':' after the key"),
            ("{\"a\": [1, 2", "line 1, column 12: unexpected end of file; expected ',' or ']'"),
            ("{\"a\": \"open", "line 1, column 7: unterminated string"),
            ("{} x", "line 1, column 4: unexpected text after the end of the document"),
        ]
    )
    func locatesError(text: String, expected: String) {
        #expect(JSONSyntaxLocator.describeFirstError(in: Array(text.utf8)) == expected)
    }

    @Test("valid JSON has no syntax error")
    func validJSON() {
        #expect(JSONSyntaxLocator.describeFirstError(in: Array(#"{"a": [1, -2.5e3, true, null, "x\"y"]}"#.utf8)) == nil)
    }
}

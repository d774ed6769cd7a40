import Foundation
import Testing

@testable import Entitlement

@Suite("SQLite text bindings")
struct SQLiteBindingTests {
    @Test("a String, UTF-8 bytes as SQLiteText, and nil bind as text, text and NULL; empty text stays text")
    func textAndNull() async throws {
        try await withTemporaryDirectory { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let database = try SQLiteDatabase(path: path + "/b.sqlite3")
            defer { database.close() }
            let select = try database.statement("SELECT typeof(?1) || ',' || typeof(?2) || ',' || typeof(?3), ?1 || ?2")
            let none: String? = nil
            try select.bind("", SQLiteText([]), none)
            #expect(try select.step())
            #expect(select.string(at: 0) == "text,text,null")
            #expect(select.string(at: 1) == "")
            select.reset()
            try select.bind("a\u{0}b", SQLiteText(Array(#"["ü"]"#.utf8)), Optional("c"))
            #expect(try select.step())
            #expect(select.string(at: 0) == "text,text,text")
            #expect(select.string(at: 1) == "a\u{0}b[\"ü\"]")
            select.reset()
        }
    }
}

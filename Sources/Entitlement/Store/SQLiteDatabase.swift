internal import CSQLite

/// An error from SQLite, carrying its result code and message.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String

    public var description: String { "SQLite error \(code): \(message)" }
}

/// One SQLite connection: WAL, `synchronous=FULL` (a commit is fsync'd), a busy timeout, and a
/// cache of prepared statements. Not thread-safe; its owner (the store actor) serializes use.
final class SQLiteDatabase {
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]

    init(path: String) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: "cannot open \(path): \(message)")
        }
        handle = db
        // SQLite falls back to read-only when the file is not writable; serving would then fail
        // every write, so the start-up fails instead, saying where to look.
        guard sqlite3_db_readonly(db, "main") != 1 else {
            close()
            throw SQLiteError(
                code: SQLITE_READONLY,
                message: "\(path) can be opened only read-only: the server needs to write it, and its directory "
                    + "(check their permissions and owner, and that the file system is not mounted read-only)")
        }
        sqlite3_busy_timeout(db, 5_000)
        do throws(SQLiteError) {
            try execute("PRAGMA journal_mode=WAL")
            try execute("PRAGMA synchronous=FULL")
        } catch {
            close()
            throw SQLiteError(code: error.code, message: "\(path): \(error.message)")
        }
    }

    deinit { close() }

    /// Finalizes every statement and closes the connection; later calls fail.
    func close() {
        statements.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs one or more statements that return no rows of interest.
    func execute(_ sql: String) throws(SQLiteError) {
        let db = try open()
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? lastMessage
            sqlite3_free(error)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// Runs one statement that takes no parameters, prepared once: for the transaction control
    /// the writer issues around every operation, which `execute` would parse each time.
    func run(_ sql: String) throws(SQLiteError) {
        try statement(sql).run()
    }

    /// A prepared statement for `sql`, reset and ready to bind; prepared once, then reused.
    func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        let db = try open()
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw SQLiteError(code: rc, message: lastMessage) }
        let statement = SQLiteStatement(raw, database: self)
        statements[sql] = statement
        return statement
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`; rolls back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// The rowid of the last row inserted on this connection.
    var lastInsertRowID: Int64 { handle.map { sqlite3_last_insert_rowid($0) } ?? 0 }

    /// Whether a transaction is open. False after SQLite rolled one back by itself (a full disk,
    /// an I/O error), when later statements would each commit on their own.
    var isInTransaction: Bool { handle.map { sqlite3_get_autocommit($0) == 0 } ?? false }

    var lastMessage: String {
        handle.map { String(cString: sqlite3_errmsg($0)) } ?? "database is closed"
    }

    private func open() throws(SQLiteError) -> OpaquePointer {
        guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "database is closed") }
        return handle
    }
}

/// A prepared statement: bind parameters (1-based), step, read columns (0-based).
final class SQLiteStatement {
    private let raw: OpaquePointer
    private unowned let database: SQLiteDatabase

    fileprivate init(_ raw: OpaquePointer, database: SQLiteDatabase) {
        self.raw = raw
        self.database = database
    }

    deinit { sqlite3_finalize(raw) }

    /// Resets to run again and clears the bindings.
    func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    func bind(_ value: String, at index: Int32) throws(SQLiteError) {
        var text = value
        try check(text.withUTF8 { utf8 in bindText(UnsafeRawBufferPointer(utf8), at: index) })
    }

    /// UTF-8 bytes as TEXT (a `[UInt8]` binds as a BLOB).
    func bind(_ value: SQLiteText, at index: Int32) throws(SQLiteError) {
        try check(value.utf8.withUnsafeBytes { bytes in bindText(bytes, at: index) })
    }

    /// UTF-8 as TEXT, copied by SQLite, with an explicit length so text holding NUL bytes is
    /// stored whole; returns SQLite's result code.
    private func bindText(_ utf8: UnsafeRawBufferPointer, at index: Int32) -> Int32 {
        // A zero-length text needs a non-null pointer (SQLite reads none of it), or it stores NULL.
        let base = utf8.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        return sqlite3_bind_text(
            raw, index, base.assumingMemoryBound(to: CChar.self), Int32(utf8.count), CSQLite_transient())
    }

    func bindNull(at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_null(raw, index))
    }

    func bind(_ value: Int64, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_int64(raw, index, value))
    }

    func bind(_ value: [UInt8], at index: Int32) throws(SQLiteError) {
        let rc = value.withUnsafeBytes { bytes in
            // A zero-length blob needs a non-null pointer, or SQLite stores NULL.
            sqlite3_bind_blob(
                raw, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count),
                CSQLite_transient())
        }
        try check(rc)
    }

    /// Binds each value in order, starting at parameter 1.
    func bind(_ values: any SQLiteBindable...) throws(SQLiteError) {
        for (offset, value) in values.enumerated() {
            try value.bind(to: self, at: Int32(offset + 1))
        }
    }

    /// Steps to the next row; false once there are no more, and the statement is then reset.
    ///
    /// A statement left on a row keeps its read transaction open, and WAL checkpoints cannot pass
    /// an open reader: the WAL then grows without bound. So a finished statement is reset at once,
    /// and a caller that reads only the first row uses `firstInt64()` (which resets too).
    @discardableResult
    func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE:
            sqlite3_reset(raw)
            return false
        default:
            sqlite3_reset(raw)
            throw SQLiteError(code: rc, message: database.lastMessage)
        }
    }

    /// The first column of the first row as an integer (0 when there is no row); the statement is
    /// reset after, so it holds no read transaction open.
    func firstInt64() throws(SQLiteError) -> Int64 {
        defer { reset() }
        return try step() ? int64(at: 0) : 0
    }

    /// Steps to completion, for statements that return no rows.
    func run() throws(SQLiteError) {
        while try step() {}
    }

    func string(at column: Int32) -> String {
        guard let text = sqlite3_column_text(raw, column) else { return "" }
        let count = Int(sqlite3_column_bytes(raw, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func optionalString(at column: Int32) -> String? {
        sqlite3_column_type(raw, column) == SQLITE_NULL ? nil : string(at: column)
    }

    func int64(at column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }

    func blob(at column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(raw, column))
        guard count > 0, let pointer = sqlite3_column_blob(raw, column) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private func check(_ rc: Int32) throws(SQLiteError) {
        if rc != SQLITE_OK { throw SQLiteError(code: rc, message: database.lastMessage) }
    }
}

/// A value that can be bound to a statement parameter.
protocol SQLiteBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) throws(SQLiteError)
}

extension String: SQLiteBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) throws(SQLiteError) {
        try statement.bind(self, at: index)
    }
}

extension Int64: SQLiteBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) throws(SQLiteError) {
        try statement.bind(self, at: index)
    }
}

extension Array: SQLiteBindable where Element == UInt8 {
    func bind(to statement: SQLiteStatement, at index: Int32) throws(SQLiteError) {
        try statement.bind(self, at: index)
    }
}

/// Text already encoded as UTF-8 (a JSON array built as bytes), bound without becoming a `String`.
struct SQLiteText: SQLiteBindable {
    let utf8: [UInt8]

    init(_ utf8: [UInt8]) { self.utf8 = utf8 }

    func bind(to statement: SQLiteStatement, at index: Int32) throws(SQLiteError) {
        try statement.bind(self, at: index)
    }
}

extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) throws(SQLiteError) {
        if let self { try self.bind(to: statement, at: index) } else { try statement.bindNull(at: index) }
    }
}

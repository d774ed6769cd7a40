#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// 32 random bytes in a file of the data dir, created once (mode 0600) from the system's secure
/// random generator, then read on every start: the page-token key (tokens survive restarts), and
/// the name a PostgreSQL replica's audit.log goes by in the shared audit table.
package enum RandomKeyFile {
    static let keySize = 32

    /// - Parameter name: what the file holds, for error messages ("the page-token key").
    package static func loadOrCreate(path: String, name: String) throws(StoreError) -> [UInt8] {
        if access(path, F_OK) != 0 { try create(path: path, name: name) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io("cannot read \(name) \(path): \(errnoText())") }
        defer { close(fd) }
        var key = [UInt8](repeating: 0, count: keySize + 1)
        let count = key.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count == keySize else {
            throw StoreError.io(
                "\(name) \(path) must hold exactly \(keySize) bytes; it holds \(max(count, 0))")
        }
        return Array(key.prefix(keySize))
    }

    // Written to a temporary file, fsync'd, then linked into place: a crash never leaves a short
    // key, and of two racing starts exactly one key wins.
    private static func create(path: String, name: String) throws(StoreError) {
        var generator = SystemRandomNumberGenerator()
        let key = (0..<keySize).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.io("cannot create \(name) \(path): \(errnoText())") }
        defer { unlink(temporary) }
        let written = key.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == keySize, synced else {
            throw StoreError.io("cannot write \(name) \(path): \(errnoText())")
        }
        if link(temporary, path) != 0, errno != EEXIST {
            throw StoreError.io("cannot create \(name) \(path): \(errnoText())")
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

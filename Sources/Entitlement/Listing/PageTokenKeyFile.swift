#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The 32-byte page-token key in the data dir: created once (mode 0600) from the system's secure
/// random generator, then read on every start so tokens survive restarts.
enum PageTokenKeyFile {
    static let keySize = 32

    static func loadOrCreate(path: String) throws(StoreError) -> [UInt8] {
        if access(path, F_OK) != 0 { try create(path: path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io("cannot read the page-token key \(path): \(errnoText())") }
        defer { close(fd) }
        var key = [UInt8](repeating: 0, count: keySize + 1)
        let count = key.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count == keySize else {
            throw StoreError.io(
                "the page-token key \(path) must hold exactly \(keySize) bytes; it holds \(max(count, 0))")
        }
        return Array(key.prefix(keySize))
    }

    // Written to a temporary file, fsync'd, then linked into place: a crash never leaves a short
    // key, and of two racing starts exactly one key wins.
    private static func create(path: String) throws(StoreError) {
        var generator = SystemRandomNumberGenerator()
        let key = (0..<keySize).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.io("cannot create the page-token key \(path): \(errnoText())") }
        defer { unlink(temporary) }
        let written = key.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == keySize, synced else {
            throw StoreError.io("cannot write the page-token key \(path): \(errnoText())")
        }
        if link(temporary, path) != 0, errno != EEXIST {
            throw StoreError.io("cannot create the page-token key \(path): \(errnoText())")
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

/// The little file-system work the store needs at start-up.
package enum FileSystem {
    package static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Creates `path` and its missing parents (mode 0700: the dir holds the page-token key).
    package static func makeDirectory(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0, errno != EEXIST {
                throw StoreError.io("cannot create directory \(prefix): \(String(cString: strerror(errno)))")
            }
            prefix += "/"
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw StoreError.io("\(path) is not a directory")
        }
    }
}

/// Exclusive use of a data directory by one process: two servers on one directory would each
/// accept the same request and overwrite each other's commits. The lock is an `flock` on
/// `.lock` in the directory, so the kernel drops it when the process ends, even on kill -9,
/// and a stale file never blocks a restart.
package final class DataDirectoryLock: Sendable {
    /// The lock file's descriptor (-1 once released); closing it releases the lock.
    private let descriptor: Mutex<Int32>

    /// Takes the lock, or throws naming the process that holds it.
    package init(directory: String) throws(StoreError) {
        let path = directory + "/.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StoreError.io("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = Self.holder(descriptor)
            close(descriptor)
            guard reason == EWOULDBLOCK else {
                throw StoreError.io("cannot lock \(path): \(String(cString: strerror(reason)))")
            }
            throw StoreError.io(
                "the data directory \(directory) is in use by another server process\(holder.map { " (pid \($0))" } ?? ""); "
                    + "stop it, or give each server its own --data-dir (replicas share state through --store)")
        }
        // Our pid in the file, for the message another process gets.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 {
            _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        }
        self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// Gives the directory up (a store's `close`), so another store may open it at once.
    package func release() {
        descriptor.withLock { descriptor in
            guard descriptor >= 0 else { return }
            close(descriptor)
            descriptor = -1
        }
    }

    /// The pid written by the process holding the lock, if it wrote one.
    private static func holder(_ descriptor: Int32) -> Int? {
        var bytes = [UInt8](repeating: 0, count: 16)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int(String(decoding: bytes[..<count].prefix { (48...57).contains($0) }, as: UTF8.self))
    }
}

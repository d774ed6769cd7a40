import NIOCore

#if canImport(Glibc)
import Glibc
#endif

enum CPUAffinity {
    /// The cores this process may run on: `System.coreCount` (cgroup quotas) narrowed by the
    /// affinity mask (`taskset`, cpusets), so a pinned server does not run more event loops
    /// than it has cores to run them on.
    static var usableCores: Int {
        var count = System.coreCount
        if let allowed = allowedCPUs(), allowed > 0 { count = min(count, allowed) }
        return max(1, count)
    }

    /// Counts the bits of `Cpus_allowed` in /proc/self/status (a comma-separated hex mask).
    private static func allowedCPUs() -> Int? {
        #if os(Linux)
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        let prefix = Array("Cpus_allowed:".utf8)
        while fgets(&line, Int32(line.count), file) != nil {
            let bytes = line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            guard bytes.starts(with: prefix) else { continue }
            var bits = 0
            for byte in bytes.dropFirst(prefix.count) {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): bits += Int(byte - UInt8(ascii: "0")).nonzeroBitCount
                case UInt8(ascii: "a")...UInt8(ascii: "f"): bits += Int(byte - UInt8(ascii: "a") + 10).nonzeroBitCount
                default: continue
                }
            }
            return bits
        }
        #endif
        return nil
    }
}

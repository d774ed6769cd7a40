import NIOCore

/// Counts PING and SETTINGS frames per one-second window. Legitimate peers send a handful
/// (keepalive, BDP probes); a flood of them only makes the server queue acknowledgements.
struct ControlFrameBudget {
    static let maxPerSecond = 500

    private var windowStart = NIODeadline.uptimeNanoseconds(0)
    private var count = 0

    /// Records one frame; false once the budget of this window is spent.
    mutating func admit(now: NIODeadline) -> Bool {
        if now - windowStart >= .seconds(1) {
            windowStart = now
            count = 0
        }
        count += 1
        return count <= Self.maxPerSecond
    }
}

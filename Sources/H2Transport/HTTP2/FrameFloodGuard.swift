/// Counts the frames a peer can send without asking for any work, so a flood of them ends the
/// connection (GOAWAY ENHANCE_YOUR_CALM) instead of costing the event loop for nothing
/// (CVE-2019-9512/9515/9518). nghttp2 1.52 limits queued acknowledgements and rapid resets, not
/// these. Lives on the connection's loop.
struct FrameFloodGuard {
    enum Frame: Equatable {
        /// PING or SETTINGS, not an ACK: each makes this side queue an acknowledgement.
        case control
        /// PING or SETTINGS ACK.
        case acknowledgement
        case priority
        case windowUpdate
        /// DATA with no payload and no END_STREAM.
        case emptyData
        /// HEADERS on a stream that is closed (nghttp2 decodes the block, then drops it).
        case headersOnClosedStream

        var name: String {
            switch self {
            case .control: "PING/SETTINGS"
            case .acknowledgement: "PING/SETTINGS ACK"
            case .priority: "PRIORITY"
            case .windowUpdate: "WINDOW_UPDATE"
            case .emptyData: "empty DATA"
            case .headersOnClosedStream: "HEADERS on closed streams"
            }
        }
    }

    /// PING and SETTINGS per one-second window: legitimate peers send a handful (keepalive, BDP
    /// probes).
    static let maxControlFramesPerSecond = 500
    /// The other kinds share a token bucket: a burst and a steady refill, and besides it credit
    /// earned by work: each DATA frame this side sends (a receiver answers data with
    /// WINDOW_UPDATEs, one for the stream and one for the connection at most per frame) and each
    /// stream the peer opens (some clients send a WINDOW_UPDATE as they open one). Credit is
    /// kept apart, with a higher cap, so a receiver acknowledging a 16 MiB window frame by frame
    /// never runs short.
    static let idleBurst = 1_000
    static let idleRefillPerSecond = 330
    static let creditPerDataFrameSent = 2
    static let creditPerStreamOpened = 2
    static let maxCredit = 16_384

    private var controlWindowStart: UInt64 = 0
    private var controlCount = 0
    private var idleTokens = Self.idleBurst
    private var idleRefilledAt: UInt64 = 0
    private var credit = 0

    /// Records one frame received at `now` (monotonic nanoseconds); false once the peer is
    /// flooding.
    mutating func admit(_ frame: Frame, now: UInt64) -> Bool {
        if frame == .control {
            if now &- controlWindowStart >= 1_000_000_000 {
                controlWindowStart = now
                controlCount = 0
            }
            controlCount += 1
            return controlCount <= Self.maxControlFramesPerSecond
        }
        if credit > 0 {
            credit -= 1
            return true
        }
        refill(now: now)
        guard idleTokens > 0 else { return false }
        idleTokens -= 1
        return true
    }

    mutating func dataFrameSent() {
        credit = min(Self.maxCredit, credit + Self.creditPerDataFrameSent)
    }

    mutating func streamOpened() {
        credit = min(Self.maxCredit, credit + Self.creditPerStreamOpened)
    }

    private mutating func refill(now: UInt64) {
        let nanosecondsPerToken = 1_000_000_000 / UInt64(Self.idleRefillPerSecond)
        let earned = (now &- idleRefilledAt) / nanosecondsPerToken
        guard earned > 0 else { return }
        if idleTokens + Int(clamping: earned) >= Self.idleBurst {
            idleTokens = Self.idleBurst
            idleRefilledAt = now
        } else {
            idleTokens += Int(earned)
            // Only whole tokens are spent: the remainder of the interval counts towards the next.
            idleRefilledAt += earned * nanosecondsPerToken
        }
    }
}

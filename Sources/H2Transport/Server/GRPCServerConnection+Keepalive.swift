import NIOCore

/// Dead-peer detection while calls are open. A peer that sends nothing for `keepaliveInterval`
/// gets a PING; if nothing at all arrives within `keepaliveTimeout` after it, the peer is gone:
/// the connection closes and its calls are cancelled. With no call open the server sends no PING
/// (nginx closes pooled upstream connections that get one); the idle timeout closes those.
struct KeepaliveState {
    var timer: Scheduled<Void>?
    /// When the peer last sent anything (any frame proves it is alive, not only a PING ACK).
    var lastHeard = NIODeadline.now()
    var pingSentAt: NIODeadline?

    mutating func peerWasHeard() { lastHeard = .now() }

    mutating func cancel() {
        timer?.cancel()
        timer = nil
        pingSentAt = nil
    }
}

extension GRPCServerConnection {
    /// Starts watching the peer when the first call of a quiet connection opens.
    func armKeepalive() {
        guard keepalive.timer == nil, let interval = shared.configuration.keepaliveInterval else { return }
        // Silence is counted from now: a connection whose calls just began is not overdue.
        keepalive.peerWasHeard()
        scheduleKeepaliveCheck(in: interval)
    }

    private func scheduleKeepaliveCheck(in delay: TimeAmount) {
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        keepalive.timer = context.eventLoop.scheduleTask(in: delay) { bound.value.checkKeepalive() }
    }

    private func checkKeepalive() {
        keepalive.timer = nil
        guard !streams.isEmpty, let interval = shared.configuration.keepaliveInterval, let context, let session
        else { return }
        let timeout = shared.configuration.keepaliveTimeout
        let now = NIODeadline.now()
        if let sent = keepalive.pingSentAt {
            if keepalive.lastHeard < sent {
                let waited = now - sent
                if waited < timeout {
                    scheduleKeepaliveCheck(in: timeout - waited)
                    return
                }
                noticePeer("closing connection: the peer answered no keepalive PING", metadata: ["calls": "\(streams.count)"])
                context.close(promise: nil)
                return
            }
            keepalive.pingSentAt = nil
        }
        let silent = now - keepalive.lastHeard
        if silent < interval {
            scheduleKeepaliveCheck(in: interval - silent)
            return
        }
        session.submitPing()
        flush()
        keepalive.pingSentAt = now
        scheduleKeepaliveCheck(in: timeout)
    }

    /// With `maxConnectionAge`, a graceful GOAWAY once the connection is that old (±10%, so
    /// connections made together do not all reconnect together); calls still open get
    /// `maxConnectionAgeGrace` to finish before the connection closes.
    func armMaxAgeTimer() {
        // Armed once: a second timer (channelActive can run twice) would keep the connection
        // alive until it fired, the connection's whole age after it closed.
        guard maxAgeTimer == nil, let age = shared.configuration.maxConnectionAge, let context else { return }
        let jittered = TimeAmount.nanoseconds(age.nanoseconds / 100 * Int64.random(in: 90...110))
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let grace = shared.configuration.maxConnectionAgeGrace
        maxAgeTimer = context.eventLoop.scheduleTask(in: jittered) {
            let me = bound.value
            me.shared.logger.debug("connection reached its maximum age; draining", metadata: ["peer": "\(me.peer)"])
            me.beginDrain()
            me.maxAgeTimer = me.context?.eventLoop.scheduleTask(in: grace) { bound.value.context?.close(promise: nil) }
        }
    }
}

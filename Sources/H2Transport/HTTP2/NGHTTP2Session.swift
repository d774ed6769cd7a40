import CNGHTTP2
import Dispatch

/// Callbacks from an nghttp2 session, delivered synchronously on the connection's event loop while
/// `receive` or `drainOutput` runs.
protocol NGHTTP2SessionDelegate: AnyObject {
    func sessionBeginHeaders(streamID: Int32) -> Bool
    /// Returns false to fail the session (header list too large, say).
    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool
    /// A complete HEADERS block or DATA frame (`type`) arrived; `endStream` when the peer is done.
    func sessionFrameReceived(streamID: Int32, type: UInt8, endStream: Bool) -> Bool
    /// The peer's SETTINGS (not an ACK) arrived: it speaks HTTP/2.
    func sessionSettingsReceived()
    /// The session is ending because of what the peer sent (`reason`: a flood, a skipped stream
    /// id); the GOAWAY is queued.
    func sessionRefusedPeer(reason: String)
    /// This side sent GOAWAY with an error: nghttp2 ended the session over a protocol error of
    /// the peer's (`reason`: its debug data, nghttp2's words), or `sessionRefusedPeer` did.
    func sessionSentErrorGoAway(errorCode: UInt32, reason: String)
    /// The peer sent GOAWAY: it takes no new streams on this connection.
    func sessionGoAwayReceived()
    func sessionData(streamID: Int32, bytes: UnsafeRawBufferPointer) -> Bool
    func sessionStreamClosed(streamID: Int32, errorCode: UInt32)
    /// Fills `buffer` with the next body bytes of `streamID`; returns the count and whether the body ended.
    /// A nil result defers the stream until `resumeData`.
    func sessionReadBody(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool)?
    /// Called once the body of `streamID` has ended, to submit trailers (server) or nothing (client).
    func sessionBodyEnded(streamID: Int32)
}

/// Owns one nghttp2 session and keeps all C interop for it in one place. Not thread-safe: it is
/// used only on its connection's event loop.
final class NGHTTP2Session {
    enum Role { case server, client }

    struct Limits {
        var maxConcurrentStreams: UInt32 = 256
        var maxHeaderListSize: UInt32 = 16 * 1024
        var initialStreamWindow: UInt32 = 1 << 20
        var connectionWindow: Int32 = 16 << 20
        var maxFrameSize: UInt32 = 16 * 1024
        /// Received DATA is given back to the peer's window only through `consume`, so a
        /// stream nobody reads stops its sender (HTTP/2 flow control as backpressure).
        var manualFlowControl = false
    }

    private var session: OpaquePointer?
    // Touched for every frame, on the loop only: no runtime exclusivity checks.
    @exclusivity(unchecked) private var floodGuard = FrameFloodGuard()
    @exclusivity(unchecked) private var peerStreamIDs = PeerStreamIDs()
    /// The peer's SETTINGS raised SETTINGS_INITIAL_WINDOW_SIZE, and what that caused is not sent
    /// yet (see `streamWindowOverflowed`).
    @exclusivity(unchecked) private var initialWindowRaised = false
    @exclusivity(unchecked) private var peerInitialWindow: UInt32 = 65_535
    unowned(unsafe) let delegate: any NGHTTP2SessionDelegate
    let role: Role
    let manualFlowControl: Bool

    init(role: Role, limits: Limits, delegate: any NGHTTP2SessionDelegate) {
        self.delegate = delegate
        self.role = role
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        // Each callback borrows the session behind `userData` (it outlives every nghttp2 call):
        // no retain/release pair per header, several of which arrive with each request.
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame, let userData else { return 0 }
            return Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                return me.delegate.sessionBeginHeaders(streamID: frame.pointee.hd.stream_id)
                    ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
            }
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) {
            _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, let userData else { return 0 }
            return Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                let ok = me.delegate.sessionHeader(
                    streamID: frame.pointee.hd.stream_id,
                    name: UnsafeRawBufferPointer(start: name, count: nameLength),
                    value: UnsafeRawBufferPointer(start: value, count: valueLength)
                )
                return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            }
        }
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, hd, userData in
            guard let hd, let userData else { return 0 }
            return Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                me.frameBegins(hd.pointee) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            }
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame, let userData else { return 0 }
            let hd = frame.pointee.hd
            return Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                switch hd.type {
                case UInt8(NGHTTP2_SETTINGS.rawValue):
                    guard hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 else { return 0 }
                    let settings = frame.pointee.settings
                    for i in 0..<settings.niv where settings.iv[i].settings_id == Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue) {
                        // Only a larger window can overflow a stream's.
                        if settings.iv[i].value > me.peerInitialWindow { me.initialWindowRaised = true }
                        me.peerInitialWindow = settings.iv[i].value
                    }
                    me.delegate.sessionSettingsReceived()
                    return 0
                case UInt8(NGHTTP2_GOAWAY.rawValue):
                    me.delegate.sessionGoAwayReceived()
                    return 0
                case UInt8(NGHTTP2_DATA.rawValue), UInt8(NGHTTP2_HEADERS.rawValue):
                    let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
                    // Padding is counted in the length; a frame of padding alone is empty too.
                    if hd.type == UInt8(NGHTTP2_DATA.rawValue), !endStream, hd.length == frame.pointee.data.padlen,
                        !me.admit(.emptyData)
                    {
                        return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
                    }
                    let ok = me.delegate.sessionFrameReceived(streamID: hd.stream_id, type: hd.type, endStream: endStream)
                    return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
                default:
                    return 0
                }
            }
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            guard let frame, let userData else { return 0 }
            if frame.pointee.hd.type == UInt8(NGHTTP2_RST_STREAM.rawValue) {
                guard frame.pointee.rst_stream.error_code == NGHTTP2_FLOW_CONTROL_ERROR.rawValue else { return 0 }
                Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                    me.streamWindowOverflowed(frame.pointee.hd.stream_id)
                }
                return 0
            }
            guard frame.pointee.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) else { return 0 }
            let goaway = frame.pointee.goaway
            guard goaway.error_code != NGHTTP2_NO_ERROR.rawValue else { return 0 }
            let reason = goaway.opaque_data.map {
                String(decoding: UnsafeBufferPointer(start: $0, count: goaway.opaque_data_len), as: UTF8.self)
            }
            Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                me.delegate.sessionSentErrorGoAway(errorCode: goaway.error_code, reason: reason ?? "")
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) {
            _, _, streamID, data, length, userData in
            guard let userData else { return 0 }
            return Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                let ok = me.delegate.sessionData(streamID: streamID, bytes: UnsafeRawBufferPointer(start: data, count: length))
                return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            }
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
            guard let userData else { return 0 }
            return Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                me.delegate.sessionStreamClosed(streamID: streamID, errorCode: errorCode)
                return 0
            }
        }

        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        // Abuse limits from nghttp2 itself: rapid reset (CVE-2023-44487), CONTINUATION floods
        // (CVE-2024-28182), queued SETTINGS/PING acks, entries per SETTINGS frame.
        // Generous enough for clients that cancel many calls at their deadlines under overload.
        nghttp2_option_set_stream_reset_rate_limit(option, 1000, 200)
        nghttp2_option_set_max_continuations(option, 8)
        nghttp2_option_set_max_outbound_ack(option, 1000)
        nghttp2_option_set_max_settings(option, 32)
        nghttp2_option_set_max_send_header_block_length(option, 64 * 1024)
        if limits.manualFlowControl { nghttp2_option_set_no_auto_window_update(option, 1) }
        self.manualFlowControl = limits.manualFlowControl

        let userData = Unmanaged.passUnretained(self).toOpaque()
        switch role {
        case .server: nghttp2_session_server_new2(&session, callbacks, userData, option)
        case .client: nghttp2_session_client_new2(&session, callbacks, userData, option)
        }

        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: limits.maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: limits.maxHeaderListSize),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: limits.initialStreamWindow),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: limits.maxFrameSize),
        ]
        if role == .client {
            // Clients do not accept pushes.
            settings.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, limits.connectionWindow)
    }

    deinit {
        nghttp2_session_del(session)
    }

    /// Feeds received bytes; returns false if the peer broke the protocol (the session then wants to
    /// send a GOAWAY and close).
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return true }
        let result = nghttp2_session_mem_recv(session, base, bytes.count)
        if result < 0 { receiveError = Int32(result) }
        return result >= 0
    }

    /// Why the last `receive` failed, in nghttp2's words.
    var receiveErrorDescription: String? {
        receiveError.map { String(cString: nghttp2_strerror($0)) }
    }

    /// The last `receive` failed because the client did not open with the HTTP/2 preface.
    var receiveFailedOnPreface: Bool { receiveError == NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue }

    private var receiveError: Int32?

    /// Serializes every pending frame; `sink` is called per chunk nghttp2 hands out.
    func drainOutput(_ sink: (UnsafeRawBufferPointer) -> Void) -> Bool {
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 { return false }
            if n == 0 {
                // What the peer's SETTINGS caused is sent by now.
                initialWindowRaised = false
                return true
            }
            sink(UnsafeRawBufferPointer(start: data, count: n))
        }
    }

    var wantsIO: Bool { nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0 }

    // MARK: Submitting frames

    /// Submits response (server) headers; with `hasBody` the body is pulled through the delegate's
    /// `sessionReadBody`, otherwise the HEADERS frame ends the stream (Trailers-Only).
    func submitResponse(streamID: Int32, headers: HeaderList, hasBody: Bool) {
        headers.withNV { nva, count in
            if hasBody {
                var provider = Self.makeDataProvider()
                nghttp2_submit_response(session, streamID, nva, count, &provider)
            } else {
                nghttp2_submit_response(session, streamID, nva, count, nil)
            }
        }
    }

    /// Submits a request (client); returns the new stream id or a negative nghttp2 error.
    func submitRequest(headers: HeaderList, hasBody: Bool) -> Int32 {
        headers.withNV { nva, count in
            if hasBody {
                var provider = Self.makeDataProvider()
                return nghttp2_submit_request(session, nil, nva, count, &provider, nil)
            }
            return nghttp2_submit_request(session, nil, nva, count, nil, nil)
        }
    }

    func submitTrailers(streamID: Int32, trailers: HeaderList) {
        trailers.withNV { nva, count in _ = nghttp2_submit_trailer(session, streamID, nva, count) }
    }

    func resetStream(_ streamID: Int32, errorCode: UInt32) {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    }

    /// Gives `count` received bytes of `streamID` back to the peer's stream and connection
    /// windows (with `manualFlowControl`; nghttp2 then sends WINDOW_UPDATE as it sees fit).
    func consume(streamID: Int32, count: Int) {
        guard manualFlowControl, count > 0 else { return }
        // Connection credit first, then the stream's if it still exists (nghttp2 does both).
        _ = nghttp2_session_consume(session, streamID, count)
    }

    func resumeData(streamID: Int32) {
        nghttp2_session_resume_data(session, streamID)
    }

    /// GOAWAY with the largest stream id (server only): the client stops opening streams, and
    /// ones already sent are still processed; `submitGoAway` follows with the real limit.
    func submitShutdownNotice() {
        _ = nghttp2_submit_shutdown_notice(session)
    }

    /// A PING (not an ACK); the peer's answer, like any frame, shows the connection is alive.
    func submitPing() {
        nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    }

    /// GOAWAY naming the last stream this side will process; streams up to it may finish.
    func submitGoAway(errorCode: UInt32 = NGHTTP2_NO_ERROR.rawValue) {
        let last = nghttp2_session_get_last_proc_stream_id(session)
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, nil, 0)
    }

    /// Ends the session with a GOAWAY carrying `errorCode`; open streams are abandoned.
    func terminate(errorCode: UInt32) {
        nghttp2_session_terminate_session(session, errorCode)
    }

    // MARK: Abuse

    /// Every frame header nghttp2 goes on to process (ignored frames, DATA on closed streams say,
    /// never get here). False ends the session: its GOAWAY is queued.
    private func frameBegins(_ hd: nghttp2_frame_hd) -> Bool {
        let isACK = hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0
        switch hd.type {
        case UInt8(NGHTTP2_PING.rawValue), UInt8(NGHTTP2_SETTINGS.rawValue):
            return admit(isACK ? .acknowledgement : .control)
        case UInt8(NGHTTP2_PRIORITY.rawValue):
            return admit(.priority)
        case UInt8(NGHTTP2_WINDOW_UPDATE.rawValue):
            return admit(.windowUpdate)
        case UInt8(NGHTTP2_HEADERS.rawValue) where role == .server:
            let opens = hd.stream_id > peerStreamIDs.highest
            guard peerStreamIDs.headersBegin(on: hd.stream_id) else {
                terminate(errorCode: NGHTTP2_PROTOCOL_ERROR.rawValue)
                delegate.sessionRefusedPeer(
                    reason: "HEADERS on stream \(hd.stream_id), which the client skipped (it had already opened stream \(peerStreamIDs.highest))")
                return false
            }
            if opens {
                floodGuard.streamOpened()
                return true
            }
            // Trailers go on an open stream; HEADERS on a closed one are decoded only to be
            // dropped (nghttp2 ignores them), work for nothing.
            return nghttp2_session_find_stream(session, hd.stream_id) != nil || admit(.headersOnClosedStream)
        default:
            return true
        }
    }

    /// nghttp2 answers a SETTINGS_INITIAL_WINDOW_SIZE that takes a stream's window past 2^31 - 1
    /// with RST_STREAM(FLOW_CONTROL_ERROR) on that stream; RFC 9113 §6.9.2 makes it a connection
    /// error. A reset sent for a window overflow right after SETTINGS that raised it is that case
    /// (or, rarely, an overflowing WINDOW_UPDATE read with it: escalating that one too is allowed).
    private func streamWindowOverflowed(_ streamID: Int32) {
        guard initialWindowRaised else { return }
        initialWindowRaised = false
        terminate(errorCode: NGHTTP2_FLOW_CONTROL_ERROR.rawValue)
        delegate.sessionRefusedPeer(
            reason: "a SETTINGS_INITIAL_WINDOW_SIZE that takes stream \(streamID)'s window past 2^31 - 1 (RFC 9113 §6.9.2)")
    }

    private func admit(_ frame: FrameFloodGuard.Frame) -> Bool {
        if floodGuard.admit(frame, now: DispatchTime.now().uptimeNanoseconds) { return true }
        terminate(errorCode: NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        delegate.sessionRefusedPeer(reason: "a flood of \(frame.name) frames")
        return false
    }

    private static func makeDataProvider() -> nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, streamID, buffer, length, flags, _, userData in
            guard let userData, let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
            return Unmanaged<NGHTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef { me in
                guard let (count, eof) = me.delegate.sessionReadBody(
                    streamID: streamID, into: UnsafeMutableRawBufferPointer(start: buffer, count: length))
                else { return Int(NGHTTP2_ERR_DEFERRED.rawValue) }
                me.floodGuard.dataFrameSent()
                if eof {
                    flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                    if me.role == .server {
                        // End the body but not the stream: trailers follow (submitted from this callback,
                        // which nghttp2 allows).
                        flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                        me.delegate.sessionBodyEnded(streamID: streamID)
                    }
                }
                return count
            }
        }
        return provider
    }
}

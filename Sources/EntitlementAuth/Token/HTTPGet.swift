import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One HTTP(S) GET of a small document: the identity provider's JWKS at start-up and on refresh.
/// That needs no pool, redirects or proxies; URLSession would bring FoundationNetworking and
/// libcurl's TLS stack (about 6 MiB resident) into a server that uses them for nothing else.
enum HTTPGet {
    struct Response: Sendable {
        let status: Int
        let body: [UInt8]
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String

        init(description: String) { self.description = description }

        /// NIO's connection error in one sentence: the host that did not resolve, or the first
        /// address's refusal.
        init(connecting error: any Error, host: String, port: Int) {
            guard let error = error as? NIOConnectionError else {
                self.init(description: "cannot connect to \(host):\(port): \(error)")
                return
            }
            if let first = error.connectionErrors.first {
                let reason = (first.error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(first.error)"
                self.init(description: "cannot connect to \(host):\(port): \(reason)")
            } else {
                self.init(description: "cannot resolve \(host)")
            }
        }
    }

    /// Fetches `url` (http or https, system trust roots for TLS), failing when the whole fetch takes
    /// longer than `timeout` or the body passes `maxBytes`. Redirects are not followed.
    static func fetch(_ url: URL, accept: String, timeout: TimeAmount, maxBytes: Int) async throws -> Response {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", let host = url.host,
            !host.isEmpty
        else { throw Failure(description: "not an http(s) URL") }
        let secure = scheme == "https"
        let port = url.port ?? (secure ? 443 : 80)
        var target = url.path.isEmpty ? "/" : url.path
        if let query = url.query { target += "?" + query }
        let tls = secure ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil

        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = loop.makePromise(of: Response.self)
        // One deadline for the whole fetch: connecting, TLS, request and answer.
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(Failure(description: "no complete answer within \(timeout.nanoseconds / 1_000_000_000) s"))
        }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let collector = ResponseCollector(promise: promise, maxBytes: maxBytes, peer: "\(host):\(port)")
                        if let tls {
                            let handler = try NIOSSLClientHandler(context: tls, serverHostname: host.isIPAddress ? nil : host)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(collector)
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            deadline.cancel()
            promise.fail(error)
            throw Failure(connecting: error, host: host, port: port)
        }
        promise.futureResult.whenComplete { _ in
            deadline.cancel()
            channel.close(promise: nil)
        }

        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target)
        let hostField = host.contains(":") ? "[\(host)]" : host  // an IPv6 literal keeps its brackets
        head.headers.add(name: "host", value: url.port.map { "\(hostField):\($0)" } ?? hostField)
        head.headers.add(name: "accept", value: accept)
        head.headers.add(name: "connection", value: "close")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil)).cascadeFailure(to: promise)
        return try await promise.futureResult.get()
    }

    /// Gathers one response; fails its promise if the body is too large or the connection ends first.
    private final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart

        private let promise: EventLoopPromise<Response>
        private let maxBytes: Int
        private var status = 0
        private let peer: String
        private var body: [UInt8] = []

        init(promise: EventLoopPromise<Response>, maxBytes: Int, peer: String) {
            self.promise = promise
            self.maxBytes = maxBytes
            self.peer = peer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
            case .body(let buffer):
                guard body.count + buffer.readableBytes <= maxBytes else {
                    promise.fail(Failure(description: "the answer is larger than \(maxBytes / 1_048_576) MiB"))
                    return
                }
                body += buffer.readableBytesView
            case .end:
                promise.succeed(Response(status: status, body: body))
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if error is NIOSSLError {
                promise.fail(Failure(description: "TLS with \(peer) failed (is its certificate trusted here?): \(error)"))
            } else {
                promise.fail(error)
            }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure(description: "the connection closed before the answer was complete"))
        }
    }
}

extension String {
    /// An IPv4 or IPv6 literal: TLS sends no SNI for those.
    fileprivate var isIPAddress: Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, self, &v4) == 1 || inet_pton(AF_INET6, self, &v6) == 1
    }
}

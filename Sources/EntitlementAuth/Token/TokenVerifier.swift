public import CoreMetrics
import Entitlement
public import Foundation
import JWTKit
public import Logging
public import RPCCore
import Synchronization

/// Verifies `authorization: Bearer <JWT>` headers against the keys of a JWKS file (CONTRACT §3).
///
/// RS256 and ES256 only, each pinned to its key type and matched by `kid`; `iss`, `aud`, `tid`,
/// `oid` and `exp` are required, `nbf` is honoured, both time claims with `clockSkew` of leeway.
/// Verified headers are cached until their token expires, so a repeat call costs a hash lookup.
/// Every failure is an `UNAUTHENTICATED` `RPCError` that says what was wrong, never the token.
public final class TokenVerifier: Sendable {
    public struct Configuration: Sendable {
        /// The JWKS file (`--jwks`); re-read by `reloadKeys()`.
        public var jwksPath: String
        /// The required `iss` (`--issuer`).
        public var issuer: String
        /// The audience `aud` must be or contain (`--audience`).
        public var audience: String
        /// The required `tid` (`--tenant-id`).
        public var tenantId: String
        /// Seconds of leeway for `exp` and `nbf`.
        public var clockSkew: Double
        /// How many verified headers are kept.
        public var cacheCapacity: Int
        /// The identity provider's JWKS URL (`--jwks-url`); when set, keys come from it instead
        /// of `jwksPath`, refreshed every `refreshInterval` and on an unknown `kid` (at most once
        /// per `unknownKidRefreshInterval`); a failed refresh keeps the last good keys.
        public var jwksURL: URL?
        public var refreshInterval: Duration = .seconds(600)
        public var unknownKidRefreshInterval: Duration = .seconds(30)

        /// Where the keys come from.
        public var source: JWKSSource { jwksURL.map(JWKSSource.url) ?? .file(jwksPath) }

        public init(
            jwksPath: String,
            issuer: String,
            audience: String,
            tenantId: String,
            clockSkew: Double = 60,
            cacheCapacity: Int = 10_000
        ) {
            self.jwksPath = jwksPath
            self.issuer = issuer
            self.audience = audience
            self.tenantId = tenantId
            self.clockSkew = clockSkew
            self.cacheCapacity = cacheCapacity
        }
    }

    private struct State: Sendable {
        var keys: KeySet
        /// Bumped on every key reload; a verification that started under older keys does not
        /// write its result into the (cleared) cache.
        var generation: UInt64
        var cache: TokenCache
    }

    public let configuration: Configuration
    private let logger: Logger
    private let now: @Sendable () -> Double
    private let state: Mutex<State>

    /// The wall clock in seconds since 1970, the default `now`.
    public static let systemClock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    private let cacheHits: Counter
    private let cacheMisses: Counter
    /// When the JWKS was last refetched for an unknown kid.
    private let refreshState = Mutex<ContinuousClock.Instant?>(nil)
    private let refreshTask = Mutex<Task<Void, Never>?>(nil)

    /// Loads the JWKS file; throws if it is unreadable, malformed or has no usable key.
    /// - Parameter now: the current time in seconds since 1970 (injectable for tests).
    public init(
        configuration: Configuration,
        logger: Logger,
        now: @escaping @Sendable () -> Double = TokenVerifier.systemClock,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) async throws(JWKSError) {
        let keys = try await KeySet.load(from: configuration.source, logger: logger)
        self.cacheHits = Counter(label: "entitlement_token_cache_lookups_total", dimensions: [("result", "hit")], factory: metrics)
        self.cacheMisses = Counter(label: "entitlement_token_cache_lookups_total", dimensions: [("result", "miss")], factory: metrics)
        self.configuration = configuration
        self.logger = logger
        self.now = now
        self.state = Mutex(State(keys: keys, generation: 0, cache: TokenCache(capacity: configuration.cacheCapacity)))
        logger.info("JWKS loaded", metadata: ["source": "\(configuration.source)", "kids": "\(keys.kidList)"])
        if configuration.jwksURL != nil { startPeriodicRefresh() }
    }

    /// The key ids currently trusted, sorted.
    public var keyIds: [String] {
        state.withLock { $0.keys.algorithms.keys.sorted() }
    }

    /// Re-reads the JWKS file. On success the new keys replace the old ones and the token cache is
    /// cleared; on failure the old keys stay in force and the error is logged and thrown.
    public func reloadKeys() async throws(JWKSError) {
        let keys: KeySet
        do {
            keys = try await KeySet.load(from: configuration.source, logger: logger)
        } catch {
            logger.error(
                "JWKS reload failed; keeping the previous keys",
                metadata: ["source": "\(configuration.source)", "error": "\(error)"]
            )
            throw error
        }
        state.withLock { state in
            state.keys = keys
            state.generation &+= 1
            state.cache.removeAll()
        }
        logger.notice("JWKS reloaded", metadata: ["source": "\(configuration.source)", "kids": "\(keys.kidList)"])
    }

    /// Verifies the raw `authorization` header value (nil when the call has none).
    public func verify(authorization: String?) async throws(RPCError) -> VerifiedToken {
        guard let header = authorization else {
            throw Self.unauthenticated("missing authorization header (expected 'Bearer <token>')")
        }
        let now = self.now()
        if let hit = state.withLock({ $0.cache.lookup(header, now: now) }) {
            cacheHits.increment()
            return hit
        }
        cacheMisses.increment()
        let token = try Self.bearerToken(in: header)
        var (keys, generation) = state.withLock { ($0.keys, $0.generation) }
        let verified: VerifiedToken
        do throws(RPCError) {
            verified = try await verifyUncached(token, keys: keys, now: now)
        } catch {
            // A key the provider has just rotated in: fetch the JWKS again (rate-limited) and
            // try once more with the new keys.
            guard error.message == Self.unknownKidMessage, await refreshForUnknownKid() else { throw error }
            (keys, generation) = state.withLock { ($0.keys, $0.generation) }
            verified = try await verifyUncached(token, keys: keys, now: now)
        }
        let usableUntil = verified.expiresAt + configuration.clockSkew
        state.withLock { state in
            if state.generation == generation {
                state.cache.insert(verified, usableUntil: usableUntil, for: header, now: now)
            }
        }
        return verified
    }

    static let unknownKidMessage = "unknown key id (kid); the JWKS has no such key"

    /// With a JWKS URL: refetches on an unknown kid at most once per interval (a flood of
    /// made-up kids must not become a flood of fetches). True when the keys were refetched.
    private func refreshForUnknownKid() async -> Bool {
        guard configuration.jwksURL != nil else { return false }
        let now = ContinuousClock.now
        let due = refreshState.withLock { last -> Bool in
            if let last, now - last < configuration.unknownKidRefreshInterval { return false }
            last = now
            return true
        }
        guard due else { return false }
        logger.notice("unknown kid: fetching the JWKS again", metadata: ["source": "\(configuration.source)"])
        do {
            try await reloadKeys()
            return true
        } catch {
            return false
        }
    }

    private func startPeriodicRefresh() {
        let interval = configuration.refreshInterval
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                try? await self.reloadKeys()
            }
        }
        refreshTask.withLock { $0 = task }
    }

    deinit {
        // Cancelled outside the lock: cancelling runs the task's cancellation handlers, which must
        // never find a lock of ours held (the change feed deadlocked so).
        refreshTask.withLock { $0 }?.cancel()
    }

    /// How many verified headers are cached (for tests and metrics).
    public var cachedTokenCount: Int {
        state.withLock { $0.cache.count }
    }

    private func verifyUncached(_ token: Substring, keys: KeySet, now: Double) async throws(RPCError) -> VerifiedToken {
        let header = try Self.header(of: token)
        guard let alg = header.alg else {
            throw Self.unauthenticated("malformed token: the header has no alg")
        }
        guard let requested = SigningAlgorithm(rawValue: alg) else {
            throw Self.unauthenticated("unsupported algorithm \(Self.printable(alg)); only RS256 and ES256 are accepted")
        }
        if let critical = header.crit, !critical.isEmpty {
            throw Self.unauthenticated("unsupported critical header parameters (crit)")
        }
        guard let kid = header.kid, !kid.isEmpty else {
            throw Self.unauthenticated("token has no key id (kid)")
        }
        guard let pinned = keys.algorithms[kid] else {
            if let why = keys.skipped[kid] {
                throw Self.unauthenticated("the JWKS's key \"\(CallerText.clean(kid, maxBytes: 128))\" cannot verify tokens: \(why)")
            }
            throw Self.unauthenticated(Self.unknownKidMessage)
        }
        guard requested == pinned else {
            throw Self.unauthenticated(
                "algorithm \(requested.rawValue) is not allowed for key \(Self.printable(kid)), which verifies \(pinned.rawValue) only"
            )
        }

        let claims: TokenClaims
        do {
            claims = try await keys.collection.verify(Array(token.utf8), as: TokenClaims.self)
            // Only for a genuine signature: forgeries are not worth the scan.
            if let payload = Base64.decode(String(token.split(separator: ".")[1])),
                let name = RepeatedMembers.first(inObject: payload)
            {
                throw Self.unauthenticated("malformed token: the claims repeat \(Self.printable(name)) (RFC 7519 §4)")
            }
        } catch let error as RPCError {
            throw error
        } catch let error as JWTError where error.errorType == .malformedToken {
            throw Self.unauthenticated("malformed token: the claims are not JSON of the expected types")
        } catch {
            throw Self.unauthenticated("bad signature")
        }
        return try check(claims, now: now)
    }

    private func check(_ claims: TokenClaims, now: Double) throws(RPCError) -> VerifiedToken {
        guard let iss = claims.iss else { throw Self.missingClaim("iss") }
        guard iss == configuration.issuer else {
            throw Self.unauthenticated("wrong issuer (iss); expected '\(configuration.issuer)'")
        }
        guard let aud = claims.aud else { throw Self.missingClaim("aud") }
        guard aud.values.contains(configuration.audience) else {
            throw Self.unauthenticated("wrong audience (aud); expected '\(configuration.audience)'")
        }
        guard let tid = claims.tid else { throw Self.missingClaim("tid") }
        guard tid == configuration.tenantId else {
            throw Self.unauthenticated("wrong tenant (tid); the token is for another tenant")
        }
        guard let oid = claims.oid, !oid.isEmpty else { throw Self.missingClaim("oid") }
        // The caller's name in audit rows and role lookups: blank, control or invisible
        // characters would make an audit trail nobody can attribute.
        guard oid.unicodeScalars.contains(where: { !$0.properties.isWhitespace }),
            !oid.unicodeScalars.contains(where: Self.isUnprintable)
        else {
            throw Self.unauthenticated(
                "the oid claim is blank or holds control or invisible characters; it must name the caller")
        }
        guard let exp = claims.exp else { throw Self.missingClaim("exp") }
        guard now < exp + configuration.clockSkew else {
            throw Self.unauthenticated("token expired")
        }
        if let nbf = claims.nbf, nbf - configuration.clockSkew > now {
            throw Self.unauthenticated("token not yet valid (nbf is in the future)")
        }
        // Role template ids are GUIDs, which compare case-insensitively (RFC 9562 §4), as `tid` does.
        let roles = Set((claims.wids ?? []).map { $0.lowercased() })
        return VerifiedToken(caller: Caller(objectId: oid, directoryRoleIds: roles), expiresAt: exp)
    }

    /// Characters that do not show as themselves in a log line: controls, format characters
    /// (bidi overrides, zero-width spaces), line and paragraph separators, private-use,
    /// surrogate and unassigned code points.
    private static func isUnprintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned: true
        default: false
        }
    }

    /// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 7235).
    package static func bearerToken(in header: String) throws(RPCError) -> Substring {
        guard let space = header.firstIndex(of: " "), header[..<space].lowercased() == "bearer" else {
            throw unauthenticated("authorization is not a Bearer token (expected 'Bearer <token>')")
        }
        let token = header[space...].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty else {
            throw unauthenticated("empty Bearer token")
        }
        return Substring(token)
    }

    package static func header(of token: Substring) throws(RPCError) -> TokenHeader {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw unauthenticated("malformed token: expected three base64url parts separated by '.'")
        }
        guard let bytes = Base64.decode(String(parts[0])),
            let header = try? JSONDecoder().decode(TokenHeader.self, from: Data(bytes))
        else {
            throw unauthenticated("malformed token: the header is not base64url-encoded JSON")
        }
        if let name = RepeatedMembers.first(inObject: bytes) {
            throw unauthenticated("malformed token: the header repeats \(printable(name)) (RFC 7519 §4)")
        }
        return header
    }

    private static func missingClaim(_ name: String) -> RPCError {
        unauthenticated("token is missing the required claim \(name)")
    }

    private static func unauthenticated(_ message: String) -> RPCError {
        RPCError(code: .unauthenticated, message: message)
    }

    /// A header value from an untrusted token, shortened and limited to printable ASCII.
    private static func printable(_ text: String) -> String {
        let cleaned = text.unicodeScalars.prefix(40).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" }
        return "'\(String(cleaned))'"
    }
}

extension KeySet {
    fileprivate var kidList: String { algorithms.keys.sorted().joined(separator: ",") }
}

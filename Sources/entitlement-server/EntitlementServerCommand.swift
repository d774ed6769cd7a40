import ArgumentParser
import EntitlementAuth
import EntitlementPostgres
import EntitlementServerCore
import Foundation
import Logging
import ServerLogging
import ServiceLifecycle
import UnixSignals

@main
struct EntitlementServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entitlement-server",
        abstract: "Serves access-package requests over gRPC: list them and reprocess failed deliveries.",
        discussion: """
            Every flag can also be set in the environment as ENTITLEMENT_ + its name in upper case \
            with - as _ (--tenant-id: ENTITLEMENT_TENANT_ID); a flag on the command line wins.
            """
    )

    /// Parses the command line merged with ENTITLEMENT_* variables, then runs.
    static func main() async {
        var fromEnvironment: [EnvironmentArguments.Option] = []
        let arguments = Array(CommandLine.arguments.dropFirst())
        // Help never depends on the environment: a malformed ENTITLEMENT_* value must not hide it.
        if arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
            do {
                // ArgumentParser answers --help with a help command to run (or an error to print).
                var command = try parseAsRoot(arguments)
                if !(command is Self) {
                    try command.run()
                    exit()
                }
            } catch {
                exit(withError: error)
            }
        }
        do {
            let merged = try EnvironmentArguments.merged(
                arguments: arguments, options: EnvironmentArguments.options(of: Self.self),
                environment: ProcessInfo.processInfo.environment)
            fromEnvironment = merged.fromEnvironment
            var command: any ParsableCommand
            do {
                command = try parseAsRoot(merged.arguments)
            } catch where !fromEnvironment.isEmpty && exitCode(for: error) == .validationFailure {
                // A usage error about a flag the environment set names the variable too.
                let message = EnvironmentArguments.attributing(message(for: error), to: fromEnvironment)
                throw ValidationError(message)
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    @Option(help: EnvironmentArguments.help("Address to listen on.", "host")) var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: EnvironmentArguments.help("Port to listen on (0 picks a free one).", "port")) var port = 50051
    @Option(name: .customLong("data-dir"), help: EnvironmentArguments.help("Directory of the embedded store (created if missing).", "data-dir"))
    var dataDirectory: String?
    @Option(
        name: .customLong("store"),
        help: EnvironmentArguments.help(
            "The shared PostgreSQL store, postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=disable|prefer|require], for many replicas; --data-dir then holds only local files (audit.log). Without it the embedded store in --data-dir is used.",
            "store"))
    var store: String?
    @Option(name: .customLong("import"), help: EnvironmentArguments.help("JSON fixture to import before serving (insert-only, all or nothing).", "import"))
    var importPath: String?
    @Option(help: EnvironmentArguments.help("JWKS file with the token signing keys (re-read on SIGHUP).", "jwks")) var jwks: String?
    @Option(
        name: .customLong("jwks-url"),
        help: EnvironmentArguments.help(
            "The identity provider's JWKS URL instead of --jwks: fetched at start-up, every --jwks-refresh-seconds, on an unknown kid (at most every 30 s) and on SIGHUP; a failed fetch keeps the last good keys.",
            "jwks-url"))
    var jwksURL: String?
    @Option(
        name: .customLong("jwks-refresh-seconds"), parsing: .unconditional,
        help: EnvironmentArguments.help("How often keys from --jwks-url are fetched again.", "jwks-refresh-seconds"))
    var jwksRefreshSeconds = 600
    @Option(help: EnvironmentArguments.help("Required token issuer (iss).", "issuer")) var issuer: String?
    @Option(help: EnvironmentArguments.help("Required token audience (aud).", "audience")) var audience: String?
    @Option(name: .customLong("tenant-id"), help: EnvironmentArguments.help("Required tenant id (tid).", "tenant-id")) var tenantId: String?
    @Option(name: .customLong("reprocess-window-days"), parsing: .unconditional, help: EnvironmentArguments.help("Days after completion a request may be reprocessed.", "reprocess-window-days"))
    var reprocessWindowDays = 7
    @Option(name: .customLong("shutdown-grace-seconds"), parsing: .unconditional, help: EnvironmentArguments.help("How long in-flight calls may finish after SIGTERM.", "shutdown-grace-seconds"))
    var shutdownGraceSeconds = 10
    @Option(name: .customLong("simulate-failure-rate"), parsing: .unconditional, help: EnvironmentArguments.help("Probability (0-1) that a grant fails, for demos.", "simulate-failure-rate"))
    var simulateFailureRate = 0.0
    @Option(name: .customLong("simulate-failure-seed"), parsing: .unconditional, help: EnvironmentArguments.help("Seed for --simulate-failure-rate.", "simulate-failure-seed"))
    var simulateFailureSeed: UInt64 = 0x5EED
    @Option(name: .customLong("provisioning-latency-ms"), parsing: .unconditional, help: EnvironmentArguments.help("How long each built-in grant takes.", "provisioning-latency-ms"))
    var provisioningLatencyMilliseconds = 500
    @Option(name: .customLong("request-body-timeout-seconds"), parsing: .unconditional, help: EnvironmentArguments.help("How long a call may take to send its request body.", "request-body-timeout-seconds"))
    var requestBodyTimeoutSeconds = 30
    @Option(name: .customLong("max-connections"), parsing: .unconditional, help: EnvironmentArguments.help("Open connections past this many are closed at accept.", "max-connections"))
    var maxConnections = 10_000
    @Option(
        name: .customLong("max-concurrent-calls"), parsing: .unconditional,
        help: EnvironmentArguments.help("Unary calls handled at once; past it calls are shed at once with RESOURCE_EXHAUSTED (health never).", "max-concurrent-calls"))
    var maxConcurrentCalls = 256
    @Option(
        name: .customLong("keepalive-seconds"), parsing: .unconditional,
        help: EnvironmentArguments.help("With calls open, PING a peer silent this long (0: never). No PINGs on idle connections.", "keepalive-seconds"))
    var keepaliveSeconds = 60
    @Option(
        name: .customLong("keepalive-timeout-seconds"), parsing: .unconditional,
        help: EnvironmentArguments.help("A peer that answers nothing this long after a keepalive PING is closed and its calls cancelled.", "keepalive-timeout-seconds"))
    var keepaliveTimeoutSeconds = 20
    @Option(
        name: .customLong("max-connection-age-seconds"), parsing: .unconditional,
        help: EnvironmentArguments.help("Send a graceful GOAWAY to connections older than this (±10%); off when not given.", "max-connection-age-seconds"))
    var maxConnectionAgeSeconds: Int?
    @Option(
        name: .customLong("max-connection-age-grace-seconds"), parsing: .unconditional,
        help: EnvironmentArguments.help("How long calls of a connection past its maximum age may still finish.", "max-connection-age-grace-seconds"))
    var maxConnectionAgeGraceSeconds = 30
    @Option(
        name: .customLong("metrics-port"), parsing: .unconditional,
        help: EnvironmentArguments.help("Serve Prometheus text at plain-HTTP GET /metrics on this port (same --host); off when not given.", "metrics-port"))
    var metricsPort: Int?
    @Option(name: .customLong("log-format"), help: EnvironmentArguments.help("json (one object per line) or text.", "log-format"))
    var logFormat = "text"
    @Option(name: .customLong("log-level"), help: EnvironmentArguments.help("trace, debug, info, notice, warning, error or critical.", "log-level"))
    var logLevel = "info"
    @Flag(help: EnvironmentArguments.help("Run on the embedded default: demo data, a dev key, and a printed token.", "demo"))
    var demo = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard (0...36_500).contains(reprocessWindowDays) else {
            throw ValidationError("--reprocess-window-days must be 0...36500")
        }
        guard (0...3600).contains(shutdownGraceSeconds) else {
            throw ValidationError("--shutdown-grace-seconds must be 0...3600")
        }
        if dataDirectory?.isEmpty == true { throw ValidationError("--data-dir must not be empty") }
        guard !host.isEmpty else { throw ValidationError("--host must not be empty (127.0.0.1, 0.0.0.0, ::, or a host name)") }
        guard (0...1).contains(simulateFailureRate) else { throw ValidationError("--simulate-failure-rate must be 0...1") }
        guard (0...60_000).contains(provisioningLatencyMilliseconds) else {
            throw ValidationError("--provisioning-latency-ms must be 0...60000")
        }
        guard (1...3600).contains(requestBodyTimeoutSeconds) else {
            throw ValidationError("--request-body-timeout-seconds must be 1...3600")
        }
        guard (1...1_000_000).contains(maxConnections) else { throw ValidationError("--max-connections must be 1...1000000") }
        guard (1...1_000_000).contains(maxConcurrentCalls) else {
            throw ValidationError("--max-concurrent-calls must be 1...1000000")
        }
        guard (0...86_400).contains(keepaliveSeconds) else { throw ValidationError("--keepalive-seconds must be 0...86400") }
        guard (1...3600).contains(keepaliveTimeoutSeconds) else {
            throw ValidationError("--keepalive-timeout-seconds must be 1...3600")
        }
        if let age = maxConnectionAgeSeconds, !(1...2_592_000).contains(age) {
            throw ValidationError("--max-connection-age-seconds must be 1...2592000 (30 days)")
        }
        guard (0...86_400).contains(maxConnectionAgeGraceSeconds) else {
            throw ValidationError("--max-connection-age-grace-seconds must be 0...86400")
        }
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0...65535") }
        if let metricsPort, metricsPort != 0, metricsPort == port {
            throw ValidationError("--metrics-port must differ from --port (\(port)): /metrics is plain HTTP on a port of its own")
        }
        guard ["json", "text"].contains(logFormat) else { throw ValidationError("--log-format must be json or text, got \(logFormat)") }
        guard (1...86_400).contains(jwksRefreshSeconds) else { throw ValidationError("--jwks-refresh-seconds must be 1...86400") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if let store {
            do { _ = try PostgresStoreURL(store) } catch { throw ValidationError(error.description) }
        }
        if demo {
            // --demo brings its own dev key and prints an administrator's token: given with a
            // real key source (a stray ENTITLEMENT_DEMO in a unit's environment, say) it
            // silently refused every real token.
            let production = [
                ("--jwks", jwks), ("--jwks-url", jwksURL), ("--issuer", issuer), ("--audience", audience),
                ("--tenant-id", tenantId),
            ].filter { $0.1 != nil }.map(\.0)
            if !production.isEmpty {
                throw ValidationError(
                    "--demo (or ENTITLEMENT_DEMO) uses a dev key of its own and cannot be combined with "
                        + "\(production.joined(separator: ", ")): drop --demo to serve real tokens, or drop those")
            }
        } else {
            if jwks != nil, jwksURL != nil { throw ValidationError("give --jwks or --jwks-url, not both") }
            if let jwksURL {
                guard let url = URL(string: jwksURL), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil
                else { throw ValidationError("--jwks-url must be an http(s) URL, got \(jwksURL)") }
            }
            for (flag, value) in [("--issuer", issuer), ("--audience", audience), ("--tenant-id", tenantId)]
            where value?.isEmpty == true {
                // An empty claim to compare with would make the check mean nothing.
                throw ValidationError("\(flag) must not be empty: every token's claim is checked against it")
            }
            let missing = [
                ("--data-dir", dataDirectory), ("--jwks or --jwks-url", jwks ?? jwksURL), ("--issuer", issuer),
                ("--audience", audience), ("--tenant-id", tenantId),
            ].filter { $0.1 == nil }.map(\.0)
            if !missing.isEmpty {
                throw ValidationError("missing \(missing.joined(separator: ", ")) (or run with --demo)")
            }
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format: LogFormat = logFormat == "json" ? .json : .text
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        // Log lines are buffered (a line per call must not cost a syscall); written at exit, for
        // at most 2 s (a stuck log reader must not turn SIGTERM into SIGKILL).
        defer { LogSink.standardError.finish() }
        let logger = Logger(label: "entitlement")
        // Trapped before anything else starts, so a SIGTERM during start-up (a long import, say)
        // is not fatal: it is seen once serving begins, and shuts the server down then. SIGHUP
        // likewise (a reload then, once the keys are loaded).
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let hangups = await TrappedHangups()

        var configuration: ServerConfiguration
        var demoEnvironment: DemoEnvironment?
        if demo {
            let directory = dataDirectory ?? FileManager.default.currentDirectoryPath + "/.entitlement-demo"
            let environment = try DemoEnvironment(dataDirectory: directory, host: host, port: port)
            configuration = environment.configuration
            demoEnvironment = environment
        } else {
            configuration = ServerConfiguration(
                dataDirectory: dataDirectory!, jwksPath: jwks ?? "", issuer: issuer!, audience: audience!, tenantId: tenantId!)
            configuration.jwksURL = jwksURL.flatMap(URL.init(string:))
            configuration.host = host
            configuration.port = port
        }
        configuration.importPath = importPath
        configuration.store = try store.map { text throws(PostgresStoreURLError) in try PostgresStoreURL(text) }
        configuration.reprocessWindowDays = reprocessWindowDays
        configuration.shutdownGraceSeconds = shutdownGraceSeconds
        configuration.simulateFailureRate = simulateFailureRate
        configuration.simulateFailureSeed = simulateFailureSeed
        configuration.provisioningLatency = .milliseconds(provisioningLatencyMilliseconds)
        configuration.requestBodyTimeout = .seconds(requestBodyTimeoutSeconds)
        configuration.maxConnections = maxConnections
        configuration.jwksRefreshInterval = .seconds(jwksRefreshSeconds)
        configuration.metricsPort = metricsPort
        configuration.maxConcurrentCalls = maxConcurrentCalls
        configuration.keepaliveInterval = keepaliveSeconds > 0 ? .seconds(keepaliveSeconds) : nil
        configuration.keepaliveTimeout = .seconds(keepaliveTimeoutSeconds)
        configuration.maxConnectionAge = maxConnectionAgeSeconds.map { .seconds($0) }
        configuration.maxConnectionAgeGrace = .seconds(maxConnectionAgeGraceSeconds)

        let isDemo = demoEnvironment != nil
        let server: EntitlementServer
        do {
            server = try await EntitlementServer.start(
                configuration: configuration,
                beforeServing: { store in if isDemo { try await DemoEnvironment.populate(store) } },
                trappedHangups: hangups,
                logger: logger
            )
        } catch {
            LogSink.standardError.finish()
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if let demoEnvironment { printDemoBanner(demoEnvironment, port: server.port) }

        // The first SIGTERM/SIGINT drains (the contract's GOAWAY behaviour); a second one, or
        // the grace period running out, stops hard.
        let group = ServiceGroup(services: server.services(), logger: logger)
        let running = Task { try await group.run() }
        let watcher = Task {
            var received = 0
            for await signal in signals {
                received += 1
                if received == 1 {
                    logger.notice("received \(signal): shutting down gracefully (again to stop at once)")
                    await group.triggerGracefulShutdown()
                } else {
                    logger.notice("received \(signal) again: stopping now")
                    running.cancel()
                    return
                }
            }
        }
        try? await running.value
        watcher.cancel()
        if server.wasHardStopped {
            LogSink.standardError.finish()
            throw ExitCode(1)
        }
    }

    private func printDemoBanner(_ environment: DemoEnvironment, port: Int) {
        let cli = Self.clientCommand()
        let target = Self.dialTarget(host: host, port: port)
        let text = """

            entitlement-server demo is listening on \(Self.hostPort(host, port))
            data dir: \(environment.configuration.dataDirectory)

            A Global Administrator token (valid 12 h):
            export ENTITLEMENT_TOKEN=\(environment.adminToken)

            Try it (in another terminal, after the export above):
              \(cli) health --target \(target)
              \(cli) list --target \(target) --package ap-crm-users --state REQUEST_STATE_DELIVERY_FAILED
              \(cli) reprocess --target \(target) --package ap-crm-users <request-id from the list>

            Stop with Ctrl-C (graceful: in-flight calls finish).

            """
        // Unbuffered, so a process reading our stdout sees the token at once.
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// The client built beside this server (`.build/…/entitlement`), else `swift run entitlement`.
    private static func clientCommand() -> String {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let sibling = executable.deletingLastPathComponent().appendingPathComponent("entitlement").path
        return FileManager.default.isExecutableFile(atPath: sibling) ? sibling : "swift run entitlement"
    }

    /// Where a client on this machine dials a server listening on `host` (a wildcard is dialled
    /// on loopback).
    private static func dialTarget(host: String, port: Int) -> String {
        let dial = switch host {
        case "", "0.0.0.0": "127.0.0.1"
        case "::": "::1"
        default: host
        }
        return hostPort(dial, port)
    }

    /// `host:port`, with an IPv6 host in brackets.
    private static func hostPort(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

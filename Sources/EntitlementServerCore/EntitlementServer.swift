public import Entitlement
import EntitlementAPI
public import EntitlementAuth
import EntitlementPostgres
import H2Transport
public import Logging
import CoreMetrics
import Foundation
import NIOCore
import Prometheus
import RPCCore
import Synchronization

/// The running service: store, delivery worker, token verifier, gRPC server. `start` brings it up
/// in dependency order and fails before binding if the data, the import or the keys are bad.
public final class EntitlementServer: Sendable {
    public let port: Int
    /// The bound `/metrics` port, when `--metrics-port` was given.
    public let metricsPort: Int?
    public let store: any RequestStoring
    private let server: GRPCServer
    private let metricsEndpoint: MetricsEndpoint?
    private let health: HealthProvider
    private let deliveryTask: Task<Void, Never>
    private let reloader: SIGHUPReloader
    let configuration: ServerConfiguration
    private let logger: Logger
    /// Set when a shutdown was a hard stop (see `services()`).
    let hardStop = Atomic<Bool>(false)

    private init(
        port: Int, store: any RequestStoring, server: GRPCServer, health: HealthProvider,
        deliveryTask: Task<Void, Never>, reloader: SIGHUPReloader, configuration: ServerConfiguration, logger: Logger,
        metricsEndpoint: MetricsEndpoint?, metricsPort: Int?
    ) {
        self.port = port
        self.metricsEndpoint = metricsEndpoint
        self.metricsPort = metricsPort
        self.store = store
        self.server = server
        self.health = health
        self.deliveryTask = deliveryTask
        self.reloader = reloader
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens the store, imports `--import` (all or nothing), loads the JWKS, starts delivery
    /// (resuming every request left DELIVERING) and binds the port.
    public static func start(
        configuration: ServerConfiguration,
        clock: any WallClock = SystemWallClock(),
        beforeServing: @Sendable (any RequestStoring) async throws -> Void = { _ in },
        trappedHangups: TrappedHangups? = nil,
        logger: Logger = Logger(label: "entitlement.server")
    ) async throws -> EntitlementServer {
        // Metrics are recorded only when they can be scraped.
        let registry = PrometheusCollectorRegistry()
        let factory: any MetricsFactory = configuration.metricsPort == nil ? NOOPMetricsHandler.instance : Self.metricsFactory(registry)
        let store: any RequestStoring
        if let url = configuration.store {
            store = try await PostgresRequestStore.connect(
                url: url, directory: configuration.dataDirectory, clock: clock, logger: logger,
                metrics: StoreMetrics(factory: factory))
            logger.info("using the shared store at \(url)")
        } else {
            store = try RequestStore(
                directory: configuration.dataDirectory, clock: clock, logger: logger, metrics: StoreMetrics(factory: factory))
        }
        do {
            if let path = configuration.importPath {
                try await store.importFixture(fileAt: path)  // the store logs the summary
            }
            try await beforeServing(store)

            var verification = TokenVerifier.Configuration(
                jwksPath: configuration.jwksPath,
                issuer: configuration.issuer,
                audience: configuration.audience,
                tenantId: configuration.tenantId
            )
            verification.jwksURL = configuration.jwksURL
            verification.refreshInterval = configuration.jwksRefreshInterval
            let verifier = try await TokenVerifier(configuration: verification, logger: logger, metrics: factory)
            let reloader = await installReloadOnSIGHUP(verifier: verifier, logger: logger, trapped: trappedHangups)

            let health = HealthProvider(storeIsCommitting: { store.isCommitting })
            var router = MethodRouter()
            AccessPackageRequestsHandler(store: store, policy: ReprocessPolicy(windowDays: configuration.reprocessWindowDays))
                .register(into: &router)
            health.registerAnsweringChecksImmediately(into: &router)
            let reflected = router.services + [ServerReflectionMethods.serverReflectionInfo.service,
                V1AlphaServerReflectionMethods.serverReflectionInfo.service]
            ReflectionProvider(services: reflected.sorted()).registerBoth(into: &router)
            let authorization = AuthorizationInterceptor(
                verifier: verifier,
                directory: StoreRoleDirectory(store: store),
                auditor: StoreDeniedAuditor(store: store)
            )

            let provisioner = BuiltInProvisioner(
                store: store, failureRate: configuration.simulateFailureRate, seed: configuration.simulateFailureSeed,
                latency: configuration.provisioningLatency)
            let worker = DeliveryWorker(store: store, provisioner: provisioner, logger: logger)
            let deliveryTask = Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await worker.run() }
                    // While commits fail (a full disk), the store tries one every 5 s, so health
                    // turns SERVING again once they succeed, whether or not calls come.
                    group.addTask {
                        while true {
                            do { try await Task.sleep(for: .seconds(5)) } catch { return }
                            await store.probeCommit()
                        }
                    }
                    await group.next()
                    group.cancelAll()
                }
            }

            var serverConfiguration = GRPCServerConfiguration(host: configuration.host, port: configuration.port)
            if let threads = configuration.eventLoopThreads { serverConfiguration.eventLoopThreads = threads }
            serverConfiguration.requestBodyTimeout = TimeAmount(clamping: configuration.requestBodyTimeout)
            serverConfiguration.maxConnections = configuration.maxConnections
            serverConfiguration.maxConcurrentCalls = configuration.maxConcurrentCalls
            serverConfiguration.keepaliveInterval = configuration.keepaliveInterval.map(TimeAmount.init(clamping:))
            serverConfiguration.keepaliveTimeout = TimeAmount(clamping: configuration.keepaliveTimeout)
            serverConfiguration.maxConnectionAge = configuration.maxConnectionAge.map(TimeAmount.init(clamping:))
            serverConfiguration.maxConnectionAgeGrace = TimeAmount(clamping: configuration.maxConnectionAgeGrace)
            // Observers only when someone looks: without them a call builds no summary at all.
            var observers: [any CallObserver] = []
            if logger.logLevel <= .info { observers.append(AccessLog(logger: logger)) }
            if configuration.metricsPort != nil { observers.append(GRPCServerMetrics(factory: factory)) }
            let observer: (any CallObserver)? =
                observers.isEmpty ? nil : observers.count == 1 ? observers[0] : CallObservers(observers)
            let server = GRPCServer(
                configuration: serverConfiguration, router: router, interceptors: [authorization],
                observer: observer, logger: logger)
            let address: SocketAddressDescription
            do {
                address = SocketAddressDescription(try await server.start())
            } catch {
                deliveryTask.cancel()
                reloader.cancel()
                throw ServerStartError("cannot listen on \(configuration.host):\(configuration.port): \(error)")
            }
            var endpoint: MetricsEndpoint?
            var metricsPort: Int?
            if let port = configuration.metricsPort {
                let made = Self.metricsEndpoint(registry: registry, factory: factory, server: server, store: store)
                do {
                    metricsPort = try await made.start(host: configuration.host, port: port)
                } catch {
                    await server.shutdown(grace: .zero)
                    deliveryTask.cancel()
                    reloader.cancel()
                    throw ServerStartError("cannot serve metrics on \(configuration.host):\(port): \(error)")
                }
                endpoint = made
            }
            // Once both listen: a metrics port already taken ends start-up before "serving".
            logger.info("serving gRPC on \(address.text)")
            if let metricsPort { logger.info("serving metrics on http://\(configuration.host):\(metricsPort)/metrics") }
            return EntitlementServer(
                port: address.port, store: store, server: server, health: health, deliveryTask: deliveryTask,
                reloader: reloader, configuration: configuration, logger: logger, metricsEndpoint: endpoint,
                metricsPort: metricsPort)
        } catch {
            await store.close()
            throw error
        }
    }

    /// Graceful shutdown: health turns NOT_SERVING, no new connections, GOAWAY, in-flight calls get
    /// up to the grace period; then delivery stops (unfinished requests stay DELIVERING and resume on
    /// the next start) and the store closes.
    public func shutdown() async {
        await drainCalls(grace: .seconds(configuration.shutdownGraceSeconds))
        await stopMetrics()
        await stopDelivery()
        await closeStore()
    }

    /// Health turns NOT_SERVING, open watches end UNAVAILABLE, no new connections, GOAWAY, and
    /// in-flight calls get `grace` to finish (zero: a hard stop that cuts them off).
    func drainCalls(grace: Duration) async {
        logger.info("shutting down (grace \(grace))")
        health.markDraining()
        // Open watches end now (the caller resumes on another replica) rather than hold the drain.
        store.changes.close(with: RPCError(code: .unavailable, message: "the server is shutting down; watch again on another replica"))
        await server.shutdown(grace: grace)
        reloader.cancel()
    }

    func stopMetrics() async {
        await metricsEndpoint?.shutdown()
    }

    /// Stops delivery: unfinished requests stay DELIVERING and resume at the next start.
    func stopDelivery() async {
        deliveryTask.cancel()
        await deliveryTask.value
    }

    func closeStore() async {
        await store.close()
        logger.info("stopped")
    }
}

extension EntitlementServer {
    /// Prometheus with the gRPC ecosystem's buckets for call durations, and help text.
    static func metricsFactory(_ registry: PrometheusCollectorRegistry) -> any MetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["grpc_server_handling_seconds"] =
            [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map { Duration.milliseconds(Int64($0 * 1000)) }
        factory.durationHistogramBuckets["entitlement_store_commit_seconds"] =
            [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1].map { Duration.microseconds(Int64($0 * 1_000_000)) }
        factory.valueHistogramBuckets["entitlement_store_commit_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        return DescribedMetricsFactory(base: factory)
    }

    /// The endpoint, with the gauges it sets from live state before each scrape.
    static func metricsEndpoint(
        registry: PrometheusCollectorRegistry, factory: any MetricsFactory, server: GRPCServer, store: any RequestStoring
    ) -> MetricsEndpoint {
        let inFlight = Gauge(label: "entitlement_calls_in_flight", factory: factory)
        let connections = Gauge(label: "entitlement_open_connections", factory: factory)
        let backlog = Gauge(label: "entitlement_delivery_backlog", factory: factory)
        let watchers = Gauge(label: "entitlement_watch_streams", factory: factory)
        // 1 while the store commits (health SERVING as far as the store goes), 0 while it cannot:
        // a full disk, or a database that is down or refusing connections.
        let committing = Gauge(label: "entitlement_store_committing", factory: factory)
        return MetricsEndpoint(registry: registry) {
            inFlight.record(server.callsInFlight)
            connections.record(server.openConnections)
            committing.record(store.isCommitting ? 1 : 0)
            backlog.record(await store.deliveryBacklog())
            watchers.record(store.changes.subscriberCount)
        }
    }
}

/// A start-up failure with a message meant for the operator.
public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

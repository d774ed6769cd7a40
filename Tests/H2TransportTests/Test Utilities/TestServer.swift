import EntitlementAPI
import H2Transport
import NIOCore
import RPCCore

/// Starts a server with the echo service on a free loopback port for the length of `body`.
func withEchoServer<R>(
    configure: (inout GRPCServerConfiguration) -> Void = { _ in },
    _ body: (GRPCServer, Int, EchoService) async throws -> R
) async throws -> R {
    var configuration = GRPCServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.eventLoopThreads = 1
    configure(&configuration)
    let service = EchoService()
    var router = MethodRouter()
    service.register(into: &router)
    AlwaysServing().register(into: &router)
    let server = GRPCServer(configuration: configuration, router: router)
    let address = try await server.start()
    do {
        let result = try await body(server, address.port ?? 0, service)
        await server.shutdown(grace: .seconds(1))
        return result
    } catch {
        await server.shutdown(grace: .seconds(1))
        throw error
    }
}

/// A connected client for `port`, closed after `body`.
func withClient<R>(port: Int, _ body: (GRPCClient) async throws -> R) async throws -> R {
    let client = GRPCClient(host: "127.0.0.1", port: port)
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

import ArgumentParser
import EntitlementAPI
import RPCCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `entitlement watch`: prints each committed change to requests of an access package.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch requests of an access package change (WatchRequests).",
        discussion: """
            With request ids, prints each one as it stands, then one line per change (state, a \
            resource's state or attempts, reprocess count). Without ids, prints every change to any \
            request of the package from now on. Runs until Ctrl-C, --for elapses, or with \
            --until-settled until no watched request is DELIVERING.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(name: .customLong("package"), help: "Access package id.")
    var packageID: String

    @Flag(name: .customLong("until-settled"), help: "Stop once no watched request is DELIVERING (needs ids).")
    var untilSettled = false

    @Option(name: .customLong("for"), parsing: .unconditional, help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
    var duration: Double?

    @OptionGroup var output: OutputOptions

    @Argument(help: "Request ids to watch (none: the whole package).")
    var requestIDs: [String] = []

    func validate() throws {
        guard !packageID.isEmpty else { throw ValidationError("--package must not be empty") }
        guard requestIDs.count <= 100 else { throw ValidationError("give at most 100 request ids") }
        if untilSettled, requestIDs.isEmpty { throw ValidationError("--until-settled needs request ids") }
        if let duration, !(duration > 0 && duration <= 86_400) {
            throw ValidationError("--for must be more than 0 and at most 86400 seconds")
        }
    }

    func run() async throws {
        var request = WatchRequestsRequest()
        request.accessPackageId = packageID
        request.requestIds = requestIDs
        request.untilSettled = untilSettled
        var options = client.callOptions(authorized: true)
        // A watch runs as long as asked, not for the per-call --timeout.
        options.timeout = duration.map { .nanoseconds(Int64(($0 * 1_000_000_000).rounded())) }
        let print = output.isJSON ? Self.printJSON : Self.printLine
        let timed = duration != nil
        try await client.withClient(authorized: true) { transport in
            let changes = try await AccessPackageRequestsClient(transport: transport).watchRequests(request, options: options)
            do {
                for try await change in changes {
                    if let request = change.request {
                        print(request)
                        // Each change as it happens, also into a pipe or file (`watch | jq`), where
                        // stdout is block-buffered and Ctrl-C would lose what was held back.
                        fflush(nil)
                    }
                }
            } catch let error as RPCError where timed && error.code == .deadlineExceeded {
                // --for elapsed: that deadline is how this watch was asked to end, once the
                // server took the watch. One that never answered is no watch.
                guard await changes.call.wasAnswered() else {
                    throw RPCError(
                        code: .deadlineExceeded,
                        message: "\(client.addressText) did not answer within --for \(Formatting.decimal(duration ?? 0, digits: 1)) s (it accepted the connection but spoke no HTTP/2): is it this gRPC server?")
                }
            }
        }
    }

    static func printLine(_ request: AccessPackageRequest) {
        Swift.print(Formatting.changeLine(for: request))
    }

    static func printJSON(_ request: AccessPackageRequest) {
        Swift.print(ProtoJSON.line(ProtoJSON.value(request)))
    }
}

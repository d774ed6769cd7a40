import ArgumentParser
import Foundation
import EntitlementAPI
import RPCCore

/// `entitlement reprocess`: retries delivery of requests whose access was not fully provisioned.
struct ReprocessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reprocess",
        abstract: "Reprocess requests of an access package.",
        discussion: """
            Ids come from the arguments, from --file, or from standard input with `-`: whitespace- or \
            comma-separated ids, or the JSON lines `entitlement list --output json` prints (their \
            requests' ids), so `entitlement list --package P --state delivery_failed --output json | \
            entitlement reprocess --package P -` works. They are sent in calls of at most 100 ids, in order, \
            repeats dropped. Prints one line per id: id, outcome, resulting state, detail (--output json: \
            each ReprocessResponse on one line). Outcomes such as NOT_ELIGIBLE are results, not failures: \
            the exit status is 0 whenever every call succeeds.
            """
    )

    /// The most ids one Reprocess call takes.
    static let batchSize = 100

    @OptionGroup var client: ClientOptions

    @Option(name: .customLong("package"), help: "Access package id.")
    var packageID: String

    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("file"), help: ArgumentHelp("Read request ids from this file ('-': standard input).", valueName: "path"))
    var file: String?

    @Flag(help: "After reprocessing, watch the accepted requests until they settle and print the final state of each.")
    var wait = false

    @Argument(help: ArgumentHelp("Request ids to reprocess; '-' reads them from standard input.", valueName: "request-id"))
    var requestIDs: [String] = []

    func validate() throws {
        guard !packageID.isEmpty else { throw ValidationError("--package must not be empty") }
        guard !requestIDs.isEmpty || file != nil else {
            throw ValidationError("give request ids as arguments, with --file PATH, or '-' to read them from standard input")
        }
    }

    func run() async throws {
        let ids: [String]
        do {
            ids = try RequestIDInput.collect(arguments: requestIDs, file: file)
        } catch let error as ValidationError {
            // Read in run(), where ArgumentParser would show the top-level usage: this one's.
            writeStandardError(
                "Error: \(error.message)\nUsage: \(EntitlementCLI.usageString(for: Self.self))\n"
                    + "  See 'entitlement reprocess --help' for more information.")
            throw ExitCode.validationFailure
        }
        guard !ids.isEmpty else {
            writeStandardError("no request ids to reprocess")
            return
        }
        let json = output.isJSON
        try await client.withClient(authorized: true) { transport in
            let api = AccessPackageRequestsClient(transport: transport)
            let options = client.callOptions(authorized: true)
            var accepted: [String] = []
            for start in stride(from: 0, to: ids.count, by: Self.batchSize) {
                var request = ReprocessRequest()
                request.accessPackageId = packageID
                request.requestIds = Array(ids[start..<min(start + Self.batchSize, ids.count)])
                let response = try await api.reprocess(request, options: options)
                if json {
                    print(ProtoJSON.line(ProtoJSON.value(response)))
                } else {
                    for result in response.results { print(Formatting.line(for: result)) }
                }
                // Out at once, also into a file or pipe (block-buffered): these calls are made,
                // and a Ctrl-C during --wait must not lose the record of what was accepted.
                fflush(nil)
                accepted += response.results.filter { $0.outcome == .accepted }.map(\.requestId)
            }
            guard wait, !accepted.isEmpty else { return }
            var printedHeader = false
            for start in stride(from: 0, to: accepted.count, by: Self.batchSize) {
                let settled: [AccessPackageRequest]
                do {
                    settled = try await Self.waitUntilSettled(
                        Array(accepted[start..<min(start + Self.batchSize, accepted.count)]), package: packageID,
                        api: api, options: options)
                } catch {
                    // The calls above were made: only the wait for their outcome failed.
                    writeStandardError("\(accepted.count) accepted; waiting for them to settle failed:")
                    throw error
                }
                if !json, !printedHeader {
                    print("settled:")
                    printedHeader = true
                }
                for request in settled {
                    print(json ? ProtoJSON.line(ProtoJSON.value(request)) : Formatting.changeLine(for: request))
                }
                fflush(nil)
            }
        }
    }

    /// Watches `ids` until none is DELIVERING; their final states, in the order of `ids`.
    static func waitUntilSettled(
        _ ids: [String], package: String, api: AccessPackageRequestsClient, options: CallOptions
    ) async throws -> [AccessPackageRequest] {
        var watch = WatchRequestsRequest()
        watch.accessPackageId = package
        watch.requestIds = ids
        watch.untilSettled = true
        var final: [String: AccessPackageRequest] = [:]
        for try await change in try await api.watchRequests(watch, options: options) {
            if let request = change.request { final[request.id] = request }
        }
        return ids.compactMap { final[$0] }
    }
}

/// Request ids from arguments, a file or standard input, in order, without repeats.
enum RequestIDInput {
    static func collect(arguments: [String], file: String?) throws -> [String] {
        var texts: [(text: String, source: String)] = []
        var fromArguments: [String] = []
        for argument in arguments {
            if argument == "-" { texts.append((try read("-"), "standard input")) } else { fromArguments.append(argument) }
        }
        if let file { texts.append((try read(file), file)) }
        var seen: Set<String> = []
        var ids: [String] = []
        var parsed: [String] = []
        for (text, source) in texts { parsed += try parse(text, source: source) }
        for id in fromArguments + parsed where seen.insert(id).inserted { ids.append(id) }
        return ids
    }

    /// Ids in `text`: JSON lines (a ListRequestsResponse's `requests[].id`, a watch line's
    /// `request.id`, or an object's `id`), else whitespace- or comma-separated words. A line that
    /// starts with `{` but is no such object is refused, naming `source` and the line: taken as
    /// words, a cut-off JSON line was sent as one request id.
    static func parse(_ text: String, source: String = "the request ids") throws(ValidationError) -> [String] {
        var ids: [String] = []
        // Blank lines kept, so the line numbers are the file's.
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("{") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                    throw ValidationError("line \(number + 1) of \(source) starts with '{' but is not a JSON object")
                }
                if let requests = object["requests"] as? [[String: Any]] {
                    ids += requests.compactMap { $0["id"] as? String }
                } else if let request = object["request"] as? [String: Any], let id = request["id"] as? String {
                    ids.append(id)
                } else if let id = object["id"] as? String {
                    ids.append(id)
                }  // else a page without requests (`{}` or only nextPageToken): no ids
                continue
            }
            ids += trimmed.split { $0 == " " || $0 == "," || $0 == "\t" }.map(String.init)
        }
        return ids
    }

    private static func read(_ path: String) throws -> String {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read request ids from \(path)")
            }
            data = contents
        }
        return String(decoding: data, as: UTF8.self)
    }
}

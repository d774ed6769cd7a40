/// Emits a service's method descriptors, server protocol (with router registration) and client.
struct ServiceGenerator {
    let descriptor: ServiceDescriptor
    let package: String
    let registry: TypeRegistry
    let comments: [[Int32]: String]
    let path: [Int32]
    /// The file's `swift_prefix`, before the generated Swift type names.
    var namePrefix = ""

    private struct Method {
        let protoName: String
        let swiftName: String
        let input: String
        let output: String
        let comment: String?
        let clientStreaming: Bool
        let serverStreaming: Bool

        var plainName: String { swiftName.replacingAll("`", with: "") }

        /// The server protocol's requirement for this method.
        var requirement: String {
            switch (clientStreaming, serverStreaming) {
            case (false, false):
                "func \(swiftName)(_ request: \(input), context: ServerContext) async throws -> \(output)"
            case (false, true):
                "func \(swiftName)(_ request: \(input), responses: ResponseStreamWriter<\(output)>, context: ServerContext) async throws"
            case (true, false):
                "func \(swiftName)(_ requests: RequestStream<\(input)>, context: ServerContext) async throws -> \(output)"
            case (true, true):
                "func \(swiftName)(\n        _ requests: RequestStream<\(input)>, responses: ResponseStreamWriter<\(output)>, context: ServerContext\n    ) async throws"
            }
        }

        /// The router registration and the closure's call into the service.
        var registration: (function: String, parameters: String, call: String) {
            switch (clientStreaming, serverStreaming) {
            case (false, false):
                ("registerUnary", "request, context", "try await self.\(swiftName)(request, context: context)")
            case (false, true):
                ("registerServerStreaming", "request, responses, context",
                 "try await self.\(swiftName)(request, responses: responses, context: context)")
            case (true, false):
                ("registerClientStreaming", "requests, context", "try await self.\(swiftName)(requests, context: context)")
            case (true, true):
                ("registerBidirectionalStreaming", "requests, responses, context",
                 "try await self.\(swiftName)(requests, responses: responses, context: context)")
            }
        }
    }

    func emit(into p: inout CodePrinter) throws(GeneratorError) {
        let name = namePrefix + descriptor.name
        let fullName = package.isEmpty ? descriptor.name : package + "." + descriptor.name
        var methods: [Method] = []
        for (index, method) in descriptor.methods.enumerated() {
            methods.append(
                Method(
                    protoName: method.name,
                    swiftName: Naming.escaped(Naming.lowerFirstWord(method.name)),
                    input: try messageName(method.inputType),
                    output: try messageName(method.outputType),
                    comment: comments[path + [2, Int32(index)]],
                    clientStreaming: method.clientStreaming,
                    serverStreaming: method.serverStreaming
                )
            )
        }

        p.line("/// The methods of `\(fullName)`.")
        p.block("public enum \(name)Methods") { p in
            for m in methods {
                p.line("public static let \(m.swiftName) = MethodDescriptor(service: \"\(fullName)\", method: \"\(m.protoName)\")")
            }
        }
        p.line()
        p.docComment(comments[path])
        p.block("public protocol \(name)Service: Sendable") { p in
            for m in methods {
                p.docComment(m.comment)
                p.line(m.requirement)
            }
        }
        p.line()
        p.block("extension \(name)Service") { p in
            p.line("/// Registers every method of `\(fullName)` with `router`.")
            p.block("public func register(into router: inout MethodRouter)") { p in
                for m in methods {
                    let registration = m.registration
                    p.line("router.\(registration.function)(")
                    p.line("    \(name)Methods.\(m.swiftName),")
                    p.line("    input: \(m.input).self,")
                    p.line("    output: \(m.output).self")
                    p.line(") { \(registration.parameters) in")
                    p.line("    \(registration.call)")
                    p.line("}")
                }
            }
        }
        p.line()
        p.line("/// A client for `\(fullName)`.")
        p.block("public struct \(name)Client: Sendable") { p in
            p.line("public let transport: any ClientTransport")
            p.line()
            p.block("public init(transport: any ClientTransport)") { p in
                p.line("self.transport = transport")
            }
            for m in methods {
                p.line()
                p.docComment(m.comment)
                emitClientMethod(m, service: name, into: &p)
            }
        }
    }

    private func emitClientMethod(_ m: Method, service name: String, into p: inout CodePrinter) {
        switch (m.clientStreaming, m.serverStreaming) {
        case (false, false):
            p.block(
                "public func \(m.swiftName)(_ request: \(m.input), options: CallOptions = CallOptions()) async throws -> \(m.output)"
            ) { p in
                p.line("try await \(m.plainName)WithMetadata(request, options: options).message")
            }
            p.line()
            p.line("/// `\(m.plainName)`, with the response headers and trailers.")
            p.block(
                "public func \(m.plainName)WithMetadata(\n        _ request: \(m.input),\n        options: CallOptions = CallOptions()\n    ) async throws -> ClientResponse<\(m.output)>"
            ) { p in
                p.line("try await transport.unary(")
                p.line("    \(name)Methods.\(m.swiftName),")
                p.line("    request: request,")
                p.line("    responseType: \(m.output).self,")
                p.line("    options: options")
                p.line(")")
            }
        case (false, true):
            p.line("/// Sends `request` and returns the stream of responses (iterate it; cancel to stop).")
            p.block(
                "public func \(m.swiftName)(\n        _ request: \(m.input),\n        options: CallOptions = CallOptions()\n    ) async throws -> ResponseStream<\(m.output)>"
            ) { p in
                p.line("try await transport.serverStreaming(")
                p.line("    \(name)Methods.\(m.swiftName), request: request, responseType: \(m.output).self, options: options)")
            }
        case (true, _):
            let shape = m.serverStreaming ? "send requests, read `responses`" : "send requests, then `finish()` for the response"
            p.line("/// Opens the call: \(shape).")
            p.block(
                "public func \(m.swiftName)(options: CallOptions = CallOptions()) async throws -> StreamingCall<\(m.input), \(m.output)>"
            ) { p in
                p.line("try await transport.streaming(")
                p.line("    \(name)Methods.\(m.swiftName), requestType: \(m.input).self, responseType: \(m.output).self, options: options)")
            }
        }
    }

    private func messageName(_ typeName: String) throws(GeneratorError) -> String {
        switch try registry.entry(typeName) {
        case .message(let swiftName, _): swiftName
        case .timestamp: "Timestamp"
        case .enumeration: throw GeneratorError(message: "\(typeName) is not a message")
        }
    }
}

/// Emits a service's method descriptors, server protocol (with router registration) and client.
struct ServiceGenerator {
    let descriptor: ServiceDescriptor
    let package: String
    let registry: TypeRegistry
    let comments: [[Int32]: String]
    let path: [Int32]

    private struct Method {
        let protoName: String
        let swiftName: String
        let input: String
        let output: String
        let comment: String?
    }

    func emit(into p: inout CodePrinter) throws(GeneratorError) {
        let name = descriptor.name
        let fullName = package.isEmpty ? name : package + "." + name
        var methods: [Method] = []
        var skipped: [String] = []
        for (index, method) in descriptor.methods.enumerated() {
            if method.clientStreaming || method.serverStreaming {
                skipped.append(method.name)
                continue
            }
            methods.append(
                Method(
                    protoName: method.name,
                    swiftName: Naming.escaped(Naming.lowerFirstWord(method.name)),
                    input: try messageName(method.inputType),
                    output: try messageName(method.outputType),
                    comment: comments[path + [2, Int32(index)]]
                )
            )
        }

        p.line("/// The methods of `\(fullName)`.")
        p.block("public enum \(name)Methods") { p in
            for m in methods {
                p.line("public static let \(m.swiftName) = MethodDescriptor(service: \"\(fullName)\", method: \"\(m.protoName)\")")
            }
            for s in skipped { p.line("// streaming method \(s) is not supported by this generator") }
        }
        p.line()
        p.docComment(comments[path])
        p.block("public protocol \(name)Service: Sendable") { p in
            for m in methods {
                p.docComment(m.comment)
                p.line("func \(m.swiftName)(_ request: \(m.input), context: ServerContext) async throws -> \(m.output)")
            }
            for s in skipped { p.line("// streaming method \(s) is not supported by this generator") }
        }
        p.line()
        p.block("extension \(name)Service") { p in
            p.line("/// Registers every unary method of `\(fullName)` with `router`.")
            p.block("public func register(into router: inout MethodRouter)") { p in
                for m in methods {
                    p.line("router.registerUnary(")
                    p.line("    \(name)Methods.\(m.swiftName),")
                    p.line("    input: \(m.input).self,")
                    p.line("    output: \(m.output).self")
                    p.line(") { request, context in")
                    p.line("    try await self.\(m.swiftName)(request, context: context)")
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
                let plain = m.swiftName.replacingAll("`", with: "")
                p.line()
                p.docComment(m.comment)
                p.block(
                    "public func \(m.swiftName)(_ request: \(m.input), options: CallOptions = CallOptions()) async throws -> \(m.output)"
                ) { p in
                    p.line("try await \(plain)WithMetadata(request, options: options).message")
                }
                p.line()
                p.line("/// `\(plain)`, with the response headers and trailers.")
                p.block(
                    "public func \(plain)WithMetadata(\n        _ request: \(m.input),\n        options: CallOptions = CallOptions()\n    ) async throws -> ClientResponse<\(m.output)>"
                ) { p in
                    p.line("try await transport.unary(")
                    p.line("    \(name)Methods.\(m.swiftName),")
                    p.line("    request: request,")
                    p.line("    responseType: \(m.output).self,")
                    p.line("    options: options")
                    p.line(")")
                }
            }
            for s in skipped { p.line("// streaming method \(s) is not supported by this generator") }
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

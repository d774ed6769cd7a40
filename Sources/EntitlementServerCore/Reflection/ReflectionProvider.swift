public import EntitlementAPI
public import RPCCore

/// gRPC server reflection (what grpcurl, grpcui and Postman use), v1 and v1alpha from one
/// implementation: the two versions are the same messages under two package names, so v1alpha
/// calls are answered by re-reading their bytes as v1. Answers from the descriptors the
/// generator embeds; needs no token.
public struct ReflectionProvider: ServerReflectionService, V1AlphaServerReflectionService {
    /// Every descriptor this server can serve: its own protos and what they import.
    public static let embeddedDescriptors: [[UInt8]] = [
        AccessRequestsDescriptor.fileDescriptorProto,
        TimestampDescriptor.fileDescriptorProto,
        HealthDescriptor.fileDescriptorProto,
        ReflectionDescriptor.fileDescriptorProto,
        V1AlphaReflectionDescriptor.fileDescriptorProto,
    ]

    private let index: DescriptorIndex
    private let services: [String]

    /// - Parameter services: the names `list_services` reports (the router's).
    public init(services: [String], descriptors: [[UInt8]] = Self.embeddedDescriptors) {
        // The embedded descriptors come from protoc; one that does not decode is a build fault.
        do {
            self.index = try DescriptorIndex(fileDescriptorProtos: descriptors)
        } catch {
            preconditionFailure("an embedded file descriptor does not decode: \(error)")
        }
        self.services = services
    }

    /// Registers both versions with `router`.
    public func registerBoth(into router: inout MethodRouter) {
        (self as any ServerReflectionService).register(into: &router)
        (self as any V1AlphaServerReflectionService).register(into: &router)
    }

    public func serverReflectionInfo(
        _ requests: RequestStream<ServerReflectionRequest>,
        responses: ResponseStreamWriter<ServerReflectionResponse>,
        context: ServerContext
    ) async throws {
        for try await request in requests {
            try await responses.write(answer(request))
        }
    }

    public func serverReflectionInfo(
        _ requests: RequestStream<V1AlphaServerReflectionRequest>,
        responses: ResponseStreamWriter<V1AlphaServerReflectionResponse>,
        context: ServerContext
    ) async throws {
        for try await request in requests {
            let v1 = try ServerReflectionRequest(serializedBytes: request.serializedBytes())
            try await responses.write(try V1AlphaServerReflectionResponse(serializedBytes: answer(v1).serializedBytes()))
        }
    }

    /// The answer to one reflection request.
    func answer(_ request: ServerReflectionRequest) -> ServerReflectionResponse {
        var response = ServerReflectionResponse()
        response.validHost = request.host
        response.originalRequest = request
        switch request.messageRequest {
        case .listServices:
            var list = ListServiceResponse()
            list.service = services.map { name in
                var service = ServiceResponse()
                service.name = name
                return service
            }
            response.messageResponse = .listServicesResponse(list)
        case .fileByFilename(let name):
            response.messageResponse = files(name, missing: "file \"\(CallerText.clean(name))\" is not known to this server")
        case .fileContainingSymbol(let symbol):
            let file = index.fileOfSymbol[symbol] ?? ""
            response.messageResponse = files(file, missing: "symbol \"\(CallerText.clean(symbol))\" is not known to this server")
        case .fileContainingExtension(let request):
            response.messageResponse = error(
                .notFound, "no extension \(request.extensionNumber) of \"\(CallerText.clean(request.containingType))\": this server defines no extensions")
        case .allExtensionNumbersOfType(let type):
            if index.messageTypes.contains(type) {
                var numbers = ExtensionNumberResponse()
                numbers.baseTypeName = type
                response.messageResponse = .allExtensionNumbersResponse(numbers)
            } else if index.fileOfSymbol[type] != nil {
                // Only messages are extended; grpc C++ answers other symbols so too.
                response.messageResponse = error(.notFound, "\"\(CallerText.clean(type))\" is not a message type")
            } else {
                response.messageResponse = error(.notFound, "type \"\(CallerText.clean(type))\" is not known to this server")
            }
        case nil:
            response.messageResponse = error(.invalidArgument, "the request names no reflection query (message_request is empty)")
        }
        return response
    }

    private func files(_ name: String, missing: String) -> ServerReflectionResponse.OneOf_MessageResponse {
        let found = index.withDependencies(name)
        guard !found.isEmpty else { return error(.notFound, missing) }
        var files = FileDescriptorResponse()
        files.fileDescriptorProto = found.map(\.bytes)
        return .fileDescriptorResponse(files)
    }

    private func error(_ code: RPCError.Code, _ message: String) -> ServerReflectionResponse.OneOf_MessageResponse {
        var error = ErrorResponse()
        error.errorCode = Int32(code.rawValue)
        error.errorMessage = message
        return .errorResponse(error)
    }
}

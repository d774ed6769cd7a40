#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ProtoWire

/// Reads all of standard input.
func readStandardInput() -> [UInt8] {
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n > 0 {
            data.append(contentsOf: chunk[0..<n])
        } else if n == 0 || errno != EINTR {
            break
        }
    }
    return data
}

func writeStandardOutput(_ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
        if n > 0 {
            offset += n
        } else if n < 0 && errno != EINTR {
            exit(1)
        }
    }
}

func run(_ request: CodeGeneratorRequest) -> CodeGeneratorResponse {
    var response = CodeGeneratorResponse()
    let registry = TypeRegistry(files: request.protoFiles)
    do throws(GeneratorError) {
        for name in request.filesToGenerate {
            guard let index = request.protoFiles.firstIndex(where: { $0.name == name }) else {
                throw GeneratorError(message: "\(name) is not among the request's files")
            }
            let generator = FileGenerator(
                file: request.protoFiles[index],
                rawDescriptor: request.protoFileBytes[index],
                registry: registry
            )
            response.files.append(try generator.generate())
        }
        // Well-known files the generated ones import have their types in ProtoWire, but server
        // reflection must still serve their descriptors: emit those alone.
        let imported = Set(
            request.protoFiles.filter { request.filesToGenerate.contains($0.name) }.flatMap(\.dependencies))
        for (index, file) in request.protoFiles.enumerated()
        where imported.contains(file.name) && file.name.hasPrefix("google/protobuf/")
            && !request.filesToGenerate.contains(file.name)
        {
            let generator = FileGenerator(file: file, rawDescriptor: request.protoFileBytes[index], registry: registry)
            response.files.append(generator.generateDescriptorOnly())
        }
    } catch {
        response.error = error.message
        response.files = []
    }
    return response
}

let input = readStandardInput()
let response: CodeGeneratorResponse
do {
    response = run(try CodeGeneratorRequest(decoding: input))
} catch {
    var failure = CodeGeneratorResponse()
    failure.error = "protoc-gen-swiftwire: cannot decode the CodeGeneratorRequest: \(error)"
    response = failure
}
writeStandardOutput(response.serializedBytes())

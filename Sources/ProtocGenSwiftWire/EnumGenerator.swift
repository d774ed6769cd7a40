/// Emits an open enum: known cases plus `unrecognized(Int32)`, so unknown values round-trip.
struct EnumGenerator {
    let descriptor: EnumDescriptor
    let comments: [[Int32]: String]
    let path: [Int32]
    /// Put before the Swift name (a top-level enum of a file with `swift_prefix`).
    var namePrefix = ""

    private struct Case {
        let name: String
        let protoName: String
        let number: Int32
        let comment: String?
    }

    func emit(into p: inout CodePrinter) {
        var cases: [Case] = []
        var aliases: [(name: String, target: String, comment: String?)] = []
        for (index, value) in descriptor.values.enumerated() {
            let name = Naming.escaped(Naming.enumCaseName(value: value.name, enumName: descriptor.name))
            let comment = comments[path + [2, Int32(index)]]
            if let first = cases.first(where: { $0.number == value.number }) {
                aliases.append((name, first.name, comment))
            } else {
                cases.append(Case(name: name, protoName: value.name, number: value.number, comment: comment))
            }
        }
        let typeName = namePrefix + descriptor.name

        p.docComment(comments[path])
        p.block("public enum \(typeName): Sendable, Hashable, CaseIterable") { p in
            for c in cases {
                p.docComment(c.comment)
                p.line("case \(c.name)")
            }
            p.line("/// A value this version of the schema does not know; kept so it round-trips.")
            p.line("case unrecognized(Int32)")
            for alias in aliases {
                p.docComment(alias.comment)
                p.line("public static let \(alias.name): \(typeName) = .\(alias.target)")
            }
            p.line()
            p.line("/// Every case this version of the schema knows, in declaration order.")
            p.line("public static let allKnownCases: [\(typeName)] = [")
            p.indent()
            for c in cases { p.line(".\(c.name),") }
            p.outdent()
            p.line("]")
            p.line()
            p.line("public static var allCases: [\(typeName)] { allKnownCases }")
            p.line()
            p.line("/// Any wire value: a known case, or `.unrecognized`.")
            p.block("public init(rawValue: Int32)") { p in
                p.line("switch rawValue {")
                for c in cases { p.line("case \(c.number): self = .\(c.name)") }
                p.line("default: self = .unrecognized(rawValue)")
                p.line("}")
            }
            p.line()
            p.block("public var rawValue: Int32") { p in
                p.line("switch self {")
                for c in cases { p.line("case .\(c.name): \(c.number)") }
                p.line("case .unrecognized(let value): value")
                p.line("}")
            }
            p.line()
            p.line("/// The name in the .proto file; the number as text for an unrecognized value.")
            p.block("public var protoName: String") { p in
                p.line("switch self {")
                for c in cases { p.line("case .\(c.name): \"\(c.protoName)\"") }
                p.line("case .unrecognized(let value): String(value)")
                p.line("}")
            }
            p.line()
            p.line("/// The case whose .proto name is `protoName` (aliases included).")
            p.block("public init?(protoName: String)") { p in
                p.line("switch protoName {")
                for c in cases { p.line("case \"\(c.protoName)\": self = .\(c.name)") }
                for value in descriptor.values where !cases.contains(where: { $0.protoName == value.name }) {
                    p.line("case \"\(value.name)\": self = .init(rawValue: \(value.number))")
                }
                p.line("default: return nil")
                p.line("}")
            }
        }
    }
}

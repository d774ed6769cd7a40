/// Writes protobuf text format for `protoc --encode`, so the same values can be encoded by protoc.
struct TextFormat {
    var text = ""

    mutating func int(_ name: String, _ value: some BinaryInteger) {
        text += "\(name): \(value)\n"
    }

    mutating func bool(_ name: String, _ value: Bool) {
        text += "\(name): \(value)\n"
    }

    /// Floats go through Double so the text is the float's exact value (protoc parses it as a double).
    mutating func float(_ name: String, _ value: Float) {
        text += "\(name): \(Self.number(Double(value)))\n"
    }

    mutating func double(_ name: String, _ value: Double) {
        text += "\(name): \(Self.number(value))\n"
    }

    mutating func string(_ name: String, _ value: String) {
        text += "\(name): \"\(Self.escape(Array(value.utf8)))\"\n"
    }

    mutating func bytes(_ name: String, _ value: [UInt8]) {
        text += "\(name): \"\(Self.escape(value))\"\n"
    }

    mutating func message(_ name: String, _ body: (inout TextFormat) -> Void) {
        text += "\(name) {\n"
        body(&self)
        text += "}\n"
    }

    mutating func message(_ name: String, _ value: some TextFormatRepresentable) {
        message(name) { value.writeText(to: &$0) }
    }

    private static func number(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return "\(value)"
    }

    /// Printable ASCII as is, everything else (UTF-8 bytes included) as octal escapes.
    private static func escape(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7F: out.append(Character(Unicode.Scalar(b)))
            default:
                let octal = String(b, radix: 8)
                out += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            }
        }
        return out
    }
}

/// A message that can write itself as text format.
protocol TextFormatRepresentable {
    func writeText(to text: inout TextFormat)
}

extension TextFormatRepresentable {
    var textFormat: String {
        var t = TextFormat()
        writeText(to: &t)
        return t.text
    }
}

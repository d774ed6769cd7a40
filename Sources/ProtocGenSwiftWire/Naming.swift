/// Swift spellings of proto names.
enum Naming {
    /// Words that must be escaped with backticks where an identifier is declared or used.
    static let swiftKeywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self",
        "super", "throws", "true", "try", "_", "Type", "Protocol", "some", "any", "consume", "borrowing",
        "consuming", "copy", "discard", "each", "macro", "package", "nonisolated", "isolated",
    ]

    /// `display_name` → `displayName`; `URL_path` → `urlPath`.
    static func lowerCamel(_ snake: String) -> String {
        let parts = snake.split(separator: "_", omittingEmptySubsequences: true)
        guard let first = parts.first else { return snake }
        var result = lowerFirstWord(String(first))
        for part in parts.dropFirst() {
            result += upperFirst(String(part))
        }
        return result
    }

    /// `access_requests` → `AccessRequests`.
    static func upperCamel(_ snake: String) -> String {
        snake.split(separator: "_", omittingEmptySubsequences: true).map { upperFirst(String($0)) }.joined()
    }

    /// `ListRequests` → `listRequests`; `HTTPCall` → `httpCall`.
    static func lowerFirstWord(_ word: String) -> String {
        let chars = Array(word)
        var upperRun = 0
        while upperRun < chars.count, chars[upperRun].isUppercase { upperRun += 1 }
        if upperRun == 0 { return word }
        if upperRun == 1 || upperRun == chars.count {
            let lowered = upperRun == chars.count ? String(chars).lowercased() : chars[0].lowercased() + String(chars[1...])
            return lowered
        }
        // "HTTPCall": keep the last capital as the start of the next word.
        return String(chars[0..<(upperRun - 1)]).lowercased() + String(chars[(upperRun - 1)...])
    }

    static func upperFirst(_ word: String) -> String {
        guard let first = word.first else { return word }
        return first.uppercased() + word.dropFirst()
    }

    /// An enum value's case name: the UPPER_SNAKE form of the enum's name is stripped as a prefix,
    /// then the rest is lowerCamelCased (`REQUEST_STATE_PENDING_APPROVAL` → `pendingApproval`).
    static func enumCaseName(value: String, enumName: String) -> String {
        let prefix = upperSnake(enumName) + "_"
        var name = value
        if value.hasPrefix(prefix), value.count > prefix.count {
            let rest = String(value.dropFirst(prefix.count))
            if let first = rest.first, !first.isNumber { name = rest }
        }
        return lowerCamel(name.lowercased())
    }

    /// `RequestState` → `REQUEST_STATE`; `HTTPStatus` → `HTTP_STATUS`.
    static func upperSnake(_ camel: String) -> String {
        let chars = Array(camel)
        var result = ""
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let prev = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if prev.isLowercase || prev.isNumber || (prev.isUppercase && nextIsLower) { result += "_" }
            }
            result += c.uppercased()
        }
        return result
    }

    /// Backticks for keywords.
    static func escaped(_ identifier: String) -> String {
        swiftKeywords.contains(identifier) ? "`\(identifier)`" : identifier
    }

    /// `entitlement/v1/access_requests.proto` → `entitlement_v1_access_requests.pb.swift`.
    static func outputFileName(for protoFile: String) -> String {
        var base = protoFile
        if base.hasSuffix(".proto") { base.removeLast(".proto".count) }
        return base.replacingAll("/", with: "_") + ".pb.swift"
    }

    /// `entitlement/v1/access_requests.proto` → `AccessRequestsDescriptor`.
    static func descriptorEnumName(for protoFile: String) -> String {
        var base = String(protoFile.split(separator: "/").last ?? Substring(protoFile))
        if base.hasSuffix(".proto") { base.removeLast(".proto".count) }
        let camel = upperCamel(base.replacingAll(".", with: "_").replacingAll("-", with: "_"))
        return camel + "Descriptor"
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for c in self {
            if c == target { result += replacement } else { result.append(c) }
        }
        return result
    }
}

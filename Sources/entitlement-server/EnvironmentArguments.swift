import ArgumentParser
import Foundation

/// Every flag can also come from the environment (CONTRACT §4): `ENTITLEMENT_` + the flag's
/// name in upper case with `-` → `_` (`--tenant-id` → `ENTITLEMENT_TENANT_ID`); a flag on the
/// command line wins. The option names come from the command's own description (ArgumentParser's
/// help dump), so a new flag gets its variable without a second list to keep in step.
enum EnvironmentArguments {
    static let prefix = "ENTITLEMENT_"

    /// `tenant-id` → `ENTITLEMENT_TENANT_ID`.
    static func variable(for flag: String) -> String {
        prefix + flag.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// `help` followed by the option's variable, so `--help` lists both.
    static func help(_ text: String, _ flag: String) -> ArgumentHelp {
        ArgumentHelp("\(text) [env: \(variable(for: flag))]")
    }

    struct Option: Equatable {
        let name: String
        /// A flag takes no value: the variable turns it on when it is `1`, `true`, `yes` or `on`.
        let isFlag: Bool
    }

    /// The long options of `command`, from its help dump.
    static func options(of command: any ParsableCommand.Type) -> [Option] {
        guard let data = command._dumpHelp().data(using: .utf8),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let info = root["command"] as? [String: Any],
            let arguments = info["arguments"] as? [[String: Any]]
        else { return [] }
        return arguments.compactMap { argument in
            let kind = argument["kind"] as? String
            guard kind == "option" || kind == "flag",
                let names = argument["names"] as? [[String: String]],
                let long = names.first(where: { $0["kind"] == "long" })?["name"],
                long != "help"
            else { return nil }
            return Option(name: long, isFlag: kind == "flag")
        }
    }

    /// Options that exclude each other: one on the command line wins over the other's variable,
    /// as a flag wins over its own (an image's `ENTITLEMENT_JWKS` must not stop `--jwks-url`).
    static let alternatives: [Set<String>] = [["jwks", "jwks-url"]]

    /// `arguments` plus, for each option not on the command line, its value from `environment`
    /// (unless one of its `alternatives` is on the command line).
    /// - Returns: also the options that came from the environment, to name in errors.
    /// - Throws: `ValidationError` for a flag variable that is not a boolean.
    static func merged(
        arguments: [String], options: [Option], environment: [String: String]
    ) throws -> (arguments: [String], fromEnvironment: [Option]) {
        var merged = arguments
        var fromEnvironment: [Option] = []
        func onCommandLine(_ name: String) -> Bool {
            let flag = "--" + name
            return arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
        }
        for option in options {
            let flag = "--" + option.name
            let alternativeGiven = alternatives.contains { group in
                group.contains(option.name) && group.contains { $0 != option.name && onCommandLine($0) }
            }
            guard !onCommandLine(option.name), !alternativeGiven, let value = environment[variable(for: option.name)]
            else { continue }
            if option.isFlag {
                switch value.lowercased() {
                case "1", "true", "yes", "on": merged.append(flag)
                case "0", "false", "no", "off", "": continue  // off: nothing was set
                default:
                    throw ValidationError("\(variable(for: option.name))=\(value): expected true or false")
                }
            } else {
                merged.append(flag + "=" + value)
            }
            fromEnvironment.append(option)
        }
        return (merged, fromEnvironment)
    }

    /// `message` (an error about the command line) with the variable named for each flag it
    /// mentions that came from the environment: the operator set `ENTITLEMENT_PORT`, not `--port`.
    /// Values are not repeated: a variable may hold a password (`ENTITLEMENT_STORE`).
    static func attributing(_ message: String, to fromEnvironment: [Option]) -> String {
        let named = fromEnvironment.filter { mentions(message, flag: "--" + $0.name) }
        guard !named.isEmpty else { return message }
        let notes = named.map { "--\($0.name) was set by \(variable(for: $0.name))" }
        return message + " (" + notes.joined(separator: "; ") + ")"
    }

    /// Whether `message` names `flag` itself, not a longer flag it begins (`--jwks` in `--jwks-url`).
    static func mentions(_ message: String, flag: String) -> Bool {
        var rest = message[...]
        while let found = rest.range(of: flag) {
            let next = rest[found.upperBound...].first
            if next.map({ !($0.isLetter || $0.isNumber || $0 == "-") }) ?? true { return true }
            rest = rest[found.upperBound...]
        }
        return false
    }
}

/// Accumulates indented source text.
struct CodePrinter {
    private(set) var text = ""
    private var indentation = ""

    mutating func line(_ s: String = "") {
        if s.isEmpty {
            text += "\n"
        } else {
            text += indentation + s + "\n"
        }
    }

    mutating func indent() { indentation += "    " }

    mutating func outdent() { indentation.removeLast(4) }

    /// Prints `header {`, the body one level deeper, then `}`.
    mutating func block(_ header: String, _ body: (inout CodePrinter) -> Void) {
        line(header + " {")
        indent()
        body(&self)
        outdent()
        line("}")
    }

    /// Prints a proto comment as `///` documentation.
    mutating func docComment(_ comment: String?) {
        guard let comment else { return }
        var lines = comment.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        while let last = lines.last, last.allSatisfy({ $0 == " " }) { lines.removeLast() }
        for l in lines {
            let trimmed = l.hasPrefix(" ") ? String(l.dropFirst()) : l
            line(trimmed.isEmpty ? "///" : "/// " + trimmed)
        }
    }
}

extension CodePrinter {
    /// Prints `opening` (which ends in `{ … in`), the body one level deeper, then `}`.
    mutating func closure(_ opening: String, _ body: (inout CodePrinter) -> Void) {
        line(opening)
        indent()
        body(&self)
        outdent()
        line("}")
    }
}

import ArgumentParser
import Foundation

/// A `--duration`/`--warmup` value: `10s`, `2m`, `500ms`, `1h` or plain seconds (`2.5`).
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let seconds: Double

    init(seconds: Double) { self.seconds = seconds }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600)]
        var text = Substring(argument.lowercased())
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            text = text.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(text), value.isFinite, value >= 0 else { return nil }
        seconds = value * scale
    }

    var duration: Duration { .nanoseconds(Int64((seconds * 1_000_000_000).rounded())) }
    var description: String { Formatting.decimal(seconds, digits: 3) + "s" }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// A `--rate` value: calls per second, `500` or `500/s`.
struct RateArgument: ExpressibleByArgument, Sendable {
    let perSecond: Double

    init?(argument: String) {
        var text = Substring(argument.lowercased())
        if text.hasSuffix("/s") { text = text.dropLast(2) }
        guard let value = Double(text), value.isFinite, value > 0 else { return nil }
        perSecond = value
    }
}

/// `--mix list=8,reprocess=1,health=1`: RPCs and their weights.
struct MixArgument: ExpressibleByArgument, Sendable {
    let weights: [(rpc: LoadRPC, weight: Int)]

    init?(argument: String) {
        var weights: [(LoadRPC, Int)] = []
        for part in argument.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard let rpc = LoadRPC(rawValue: String(pair[0]).trimmingCharacters(in: .whitespaces)),
                !weights.contains(where: { $0.0 == rpc })
            else { return nil }
            let weight = pair.count == 2 ? Int(pair[1].trimmingCharacters(in: .whitespaces)) : 1
            guard let weight, (1...1_000).contains(weight) else { return nil }
            weights.append((rpc, weight))
        }
        guard !weights.isEmpty else { return nil }
        self.weights = weights
    }

    init(single rpc: LoadRPC) { weights = [(rpc, 1)] }

    /// One cycle of RPCs in proportion to their weights, interleaved (8,1,1 → l l l l r l l l l h …).
    var cycle: [LoadRPC] {
        let total = weights.map(\.weight).reduce(0, +)
        var cycle: [LoadRPC] = []
        var credit = weights.map { _ in 0 }
        for _ in 0..<total {
            for i in weights.indices { credit[i] += weights[i].weight }
            let pick = credit.indices.max { credit[$0] < credit[$1] }!
            credit[pick] -= total
            cycle.append(weights[pick].rpc)
        }
        return cycle
    }

    var description: String { weights.map { "\($0.rpc)=\($0.weight)" }.joined(separator: ",") }
}

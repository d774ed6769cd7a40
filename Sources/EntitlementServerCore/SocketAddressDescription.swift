import NIOCore

/// The bound address in the form operators read and tests parse.
struct SocketAddressDescription {
    let text: String
    let port: Int

    init(_ address: SocketAddress) {
        port = address.port ?? 0
        text = "\(address.ipAddress ?? "?"):\(port)"
    }
}

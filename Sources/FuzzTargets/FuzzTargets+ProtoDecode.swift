import EntitlementAPI
import ProtoWire

extension FuzzTargets {
    /// Decodes the bytes as every contract message; each that decodes must re-encode to
    /// `encodedSize()` bytes, decode again to an equal message, and encode to the same bytes.
    /// True when at least one message type decoded the input.
    @discardableResult
    public static func protoDecode(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let decoded = [
            roundTrip(ListRequestsRequest.self, bytes),
            roundTrip(ListRequestsResponse.self, bytes),
            roundTrip(ReprocessRequest.self, bytes),
            roundTrip(ReprocessResponse.self, bytes),
            roundTrip(ReprocessResult.self, bytes),
            roundTrip(AccessPackageRequest.self, bytes),
            roundTrip(ResourceDelivery.self, bytes),
            roundTrip(Subject.self, bytes),
            roundTrip(Timestamp.self, bytes),
            roundTrip(HealthCheckRequest.self, bytes),
            roundTrip(HealthCheckResponse.self, bytes),
            roundTrip(WatchRequestsRequest.self, bytes),
            roundTrip(WatchRequestsResponse.self, bytes),
            // Oneofs and repeated bytes: the reflection messages.
            roundTrip(ServerReflectionRequest.self, bytes),
            roundTrip(ServerReflectionResponse.self, bytes),
        ]
        return decoded.contains(true)
    }

    private static func roundTrip<M: ProtoMessage>(_ type: M.Type, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let message: M
        do throws(ProtoDecodingError) {
            message = try M(decoding: bytes)
        } catch {
            return false
        }
        let encoded = message.serializedBytes()
        precondition(encoded.count == message.encodedSize(), "\(M.self): encodedSize() disagrees with serializedBytes()")
        let again: M
        do throws(ProtoDecodingError) {
            again = try M(serializedBytes: encoded)
        } catch {
            fatalError("\(M.self): its own encoding does not decode: \(error)")
        }
        precondition(again == message, "\(M.self): decode(encode(message)) != message")
        precondition(again.serializedBytes() == encoded, "\(M.self): encoding a decoded encoding changed the bytes")
        return true
    }
}

import Entitlement

extension FuzzTargets {
    /// Parses the bytes as an import fixture (no store is written). A refusal must say where and
    /// what. True when the fixture parsed.
    @discardableResult
    public static func importJSON(_ bytes: UnsafeRawBufferPointer) -> Bool {
        do throws(ImportError) {
            _ = try Fixture(json: [UInt8](bytes))
            return true
        } catch {
            precondition(!error.message.isEmpty, "an import error without a message")
            _ = error.description
            return false
        }
    }
}

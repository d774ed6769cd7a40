@testable import H2Transport
import Testing

@Suite("ServerStreamTable")
struct ServerStreamTableTests {
    @Test("the remembered stream is the one looked up, and a removed stream is never returned")
    func rememberedStream() {
        var table = ServerStreamTable()
        let one = ServerStream(id: 1, maxMessageSize: 1_024)
        let three = ServerStream(id: 3, maxMessageSize: 1_024)
        table.add(one)
        table.add(three)
        #expect(table[1] === one)
        #expect(table[3] === three)
        #expect(table[1] === one)
        #expect(table[5] == nil)
        #expect(table[1] === one, "a miss does not forget the remembered stream")

        #expect(table.remove(1) === one)
        #expect(table[1] == nil)
        #expect(table.remove(1) == nil)
        #expect(table.count == 1)
        table.removeAll()
        #expect(table[3] == nil)
        #expect(table.isEmpty)
    }
}

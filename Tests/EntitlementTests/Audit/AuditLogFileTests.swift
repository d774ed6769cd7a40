import Entitlement
import EntitlementAPI
import Foundation
import Testing

@Suite("audit.log in the data dir")
struct AuditLogFileTests {
    @Test("allowed and refused Reprocess calls are appended as JSON lines")
    func linesForEveryCall() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: [makeRequest("r1")]))
            let handler = AccessPackageRequestsHandler(store: store)
            _ = try await handler.reprocess(reprocessRequest(ids: ["r1", "nope"]), context: makeContext())
            await store.recordDeniedReprocess(
                caller: nil, packageId: "ap-1\n\"forged\"", requestIds: ["r1"], reason: "UNAUTHENTICATED: no token")
            await store.close()

            let text = try String(contentsOfFile: path + "/audit.log", encoding: .utf8)
            let lines = text.split(separator: "\n")
            #expect(lines.count == 2)
            let objects = try lines.map {
                try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            #expect(objects[0]["decision"] as? String == "allowed")
            #expect(objects[0]["caller"] as? String == "oid-7")
            #expect(objects[0]["request_ids"] as? [String] == ["r1", "nope"])
            #expect(objects[0]["outcomes"] as? [String] == ["REPROCESS_OUTCOME_ACCEPTED", "REPROCESS_OUTCOME_NOT_FOUND"])
            #expect(objects[1]["decision"] as? String == "denied")
            #expect(objects[1]["caller"] is NSNull)
            // The caller's newline stays escaped text inside one line.
            #expect(objects[1]["access_package_id"] as? String == "ap-1\\n\"forged\"")
        }
    }
}

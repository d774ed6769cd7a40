import EntitlementAuth
import Foundation
import Testing

/// Tokens minted by a real, independent JWT implementation (PyJWT) must verify.
@Suite("PyJWT interop")
struct PyJWTInteropTests {
    @Test("PyJWT-minted RS256 and ES256 tokens are accepted", arguments: ["RS256", "ES256"])
    func acceptsPyJWTTokens(algorithm: String) async throws {
        let fixture = try await VerifierFixture()
        let (pem, kid) =
            algorithm == "RS256"
            ? (TestKeys.rsaA.privateKey.pemRepresentation, TestKeys.rsaA.kid)
            : (TestKeys.ecA.privateKey.pemRepresentation, TestKeys.ecA.kid)
        var claims = TestClaims()
        claims.oid = "oid-pyjwt"
        claims.aud = .many([TestIssuer.audience, "api://another"])
        claims.wids = [DirectoryRole.globalAdministrator.templateId]

        let token = try await PyJWT.encode(claims: claims, privateKeyPEM: pem, algorithm: algorithm, kid: kid)
        let verified = try await fixture.verifier.verify(authorization: "Bearer \(token)")

        #expect(verified.caller.objectId == "oid-pyjwt")
        #expect(verified.caller.directoryRoleIds == [DirectoryRole.globalAdministrator.templateId])
    }
}

enum PyJWT {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let install = "install Python 3 and PyJWT with its crypto extras: `pip install 'PyJWT[crypto]'` (PyJWT + cryptography)"

    /// Runs `python3` to sign `claims`; the private key PEM goes in on stdin.
    static func encode(claims: TestClaims, privateKeyPEM: String, algorithm: String, kid: String) async throws -> String {
        let script = """
            import json, sys
            try:
                import jwt
                import cryptography  # noqa: F401  (RS256/ES256 need it)
            except ImportError as e:
                sys.stderr.write("missing Python module: %s\\n" % e.name)
                sys.exit(3)
            key = sys.stdin.read()
            print(jwt.encode(json.loads(sys.argv[1]), key, algorithm=sys.argv[2], headers={"kid": sys.argv[3]}))
            """
        let claimsJSON = String(decoding: try JSONSerialization.data(withJSONObject: claims.json), as: UTF8.self)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, claimsJSON, algorithm, kid]
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot run python3 (\(error)); \(install)")
        }
        stdin.fileHandleForWriting.write(Data(privateKeyPEM.utf8))
        try stdin.fileHandleForWriting.close()
        // Python takes a while to start: its pipes are read on a thread of their own, not on
        // the concurrency pool the other tests share (as wide as the cores).
        let (output, errors) = await withCheckedContinuation { continuation in
            Thread {
                let output = stdout.fileHandleForReading.readDataToEndOfFile()
                let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                continuation.resume(returning: (output, errors))
            }.start()
        }

        switch process.terminationStatus {
        case 0:
            return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        case 3:
            throw Failure(description: "\(errors.trimmingCharacters(in: .whitespacesAndNewlines)); \(install)")
        case 127:
            throw Failure(description: "python3 not found on PATH; \(install)")
        default:
            throw Failure(description: "PyJWT failed (exit \(process.terminationStatus)): \(errors)")
        }
    }
}

import Foundation
import Testing

/// Runs the built `ldapsync` executable, which SwiftPM places beside the test bundle.
func runLDAPSync(_ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil) throws -> (status: Int32, output: String, errors: String) {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [bundleDirectory, bundleDirectory.deletingLastPathComponent()].map { $0.appendingPathComponent("ldapsync") }
    let executable = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                                  "ldapsync not found beside \(bundleDirectory.path)")
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    // Never the repository: commands look for ./ldapsync.yaml and init writes one.
    process.currentDirectoryURL = directory ?? FileManager.default.temporaryDirectory
    if let environment { process.environment = environment }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
}

@Suite struct CommandLineTests {
    @Test func helpListsTheCommandsOfTheSpec() throws {
        let result = try runLDAPSync(["--help"])
        #expect(result.status == 0)
        for command in ["run", "plan", "doctor", "status", "cursor", "conflicts", "init"] {
            #expect(result.output.contains("\n  \(command) "), "--help does not list \(command)")
        }
        #expect(result.output.contains("Exit codes"))
    }

    @Test func usageErrorsExit2() throws {
        let unknownOption = try runLDAPSync(["run", "--no-such-option"])
        #expect(unknownOption.status == 2)
        #expect(unknownOption.errors.contains("--no-such-option"))
        let badChoice = try runLDAPSync(["conflicts", "resolve", "jdoe", "mail", "--take", "both"])
        #expect(badChoice.status == 2)
        let badLevel = try runLDAPSync(["status", "--log-level", "loud"])
        #expect(badLevel.status == 2)
    }
}

import Foundation

/// A broken property is a crash naming the input's problem, which libFuzzer reports and
/// saves as a finding.
public func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property broken: \(message())") }
}

/// What a fuzz target does without libFuzzer (a plain `swift build`): runs `check` on the
/// files named as arguments, and on every file in a directory named (a corpus).
public enum CorpusReplay {
    public static func run(_ check: ([UInt8]) -> Void) throws {
        for path in CommandLine.arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path])
            }
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
            for file in files { check(Array(try Data(contentsOf: URL(fileURLWithPath: file)))) }
        }
    }
}

// libFuzzer target: the configuration loader (make fuzz, docs/reliability.md).
//
// Any text given to `ConfigurationLoader.load(yaml:sourcePath:)` either loads or throws a
// ConfigurationError (the typed throw guarantees the type); it never traps, and the same
// text always gives the same outcome (loading has no hidden state). Errors name the
// file they were given. A broken property is a fatalError.
import FuzzSupport
import SyncConfig
#if !LIBFUZZER
import Foundation
#endif

let sourcePath = "/nonexistent/fuzz/ldapsync.yaml"

func outcome(_ yaml: String) -> String {
    do {
        _ = try ConfigurationLoader.load(yaml: yaml, sourcePath: sourcePath)
        return "loaded"
    } catch {
        expect(error.file == sourcePath, "error \(error) names \(error.file.debugDescription), not the file loaded")
        return error.description
    }
}

func check(_ input: [UInt8]) {
    let yaml = String(decoding: input, as: UTF8.self)
    let first = outcome(yaml)
    let second = outcome(yaml)
    expect(first == second, "the same YAML gave \(first.debugDescription), then \(second.debugDescription)")
}

#if LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    check(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
/// Without libFuzzer: replays the files and corpus directories named as arguments.
@main struct ReplayInputs {
    static func main() throws { try CorpusReplay.run(check) }
}
#endif

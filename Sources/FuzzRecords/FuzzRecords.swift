// libFuzzer target: the binary record decoders of the state store (make fuzz,
// docs/reliability.md).
//
// Decoders must reject a corrupt record with RecordDecodingError, never trap, and what
// they accept must round-trip. The first byte of an input chooses the decoder for the rest:
//   0  EntryRecord (StateStore): re-encoding a decoded entry gives back exactly the input
//      bytes (the format has one encoding per entry: shortest varints, kept order).
//   1…7  StateRecords users, groups, cursors, retries, runs, conflicts and
//      AppChangeRecords (SyncRunner): decoding the re-encoded record gives the same record
//      (their encoders sort sets and dictionaries, so the bytes may differ).
// A broken property is a fatalError, which libFuzzer reports as a crash with the input.
import FuzzSupport
import DirectoryModel
import StateStore
@testable import SyncRunner
#if !LIBFUZZER
import Foundation
#endif

/// `decode(encode(decode(bytes))) == decode(bytes)` whenever `bytes` decodes.
func roundTrip<Record: Equatable>(_ name: String, _ bytes: [UInt8],
                                  _ decode: ([UInt8]) throws(RecordDecodingError) -> Record,
                                  _ encode: (Record) -> [UInt8]) {
    guard let record = try? decode(bytes) else { return }
    let encoded = encode(record)
    do {
        let again = try decode(encoded)
        expect(again == record, "\(name) record \(bytes) decodes to \(record), re-encoded as \(encoded), which decodes to \(again)")
    } catch {
        fatalError("property broken: \(name) record \(bytes) decodes to \(record), re-encoded as \(encoded), which is refused: \(error)")
    }
}

func check(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let bytes = Array(input.dropFirst())
    switch selector % 8 {
    case 0:
        guard let entry = try? EntryRecord.decode(bytes) else { return }
        let encoded = EntryRecord.encode(entry)
        expect(encoded == bytes, "entry record \(bytes) decodes to \(entry), which encodes as \(encoded)")
    case 1: roundTrip("user", bytes, StateRecords.decodeUser, StateRecords.encode)
    case 2: roundTrip("group", bytes, StateRecords.decodeGroup, StateRecords.encode)
    case 3: roundTrip("cursor", bytes, StateRecords.decodeCursor, StateRecords.encode)
    case 4: roundTrip("retry", bytes, StateRecords.decodeRetry, StateRecords.encode)
    case 5: roundTrip("run", bytes, StateRecords.decodeRun, StateRecords.encode)
    case 6: roundTrip("conflict", bytes, StateRecords.decodeConflict, StateRecords.encode)
    default: roundTrip("app change", bytes, AppChangeRecords.decode, AppChangeRecords.encode)
    }
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

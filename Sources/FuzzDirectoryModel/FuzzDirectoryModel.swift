// libFuzzer target: DirectoryModel's parsers and printers (make fuzz, docs/reliability.md).
//
// The first byte of an input chooses the property checked on the rest:
//   0  DN: parse → description → parse gives the same DN, the same description and the
//      same normalized form; the normalized description parses to the same normalized DN.
//   1  Filter escaping: any bytes, escaped into `(a=…)`, parse back to exactly those bytes.
//   2  Filter: parse → description → parse gives the same filter and description.
//   3  GeneralizedTime and ISO 8601: a parsed time, printed, parses back to the same time.
//   4  TimestampPattern: the canonical text compiles to the same pattern; a time formatted
//      by a pattern with year, month and day parses back to a time that formats the same.
// A broken property is a fatalError, which libFuzzer reports as a crash with the input.
@testable import DirectoryModel
#if !LIBFUZZER
import FuzzSupport
import Foundation
#endif

func check(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let rest = Array(input.dropFirst())
    let text = String(decoding: rest, as: UTF8.self)
    switch selector % 5 {
    case 0: checkDN(text)
    case 1: checkFilterEscape(rest)
    case 2: checkFilter(text)
    case 3: checkTimestamps(text)
    default: checkPattern(rest)
    }
}

func checkDN(_ text: String) {
    guard let dn = try? DistinguishedName(parsing: text) else { return }
    let printed = dn.description
    let reparsed: DistinguishedName
    do {
        reparsed = try DistinguishedName(parsing: printed)
    } catch {
        fatalError("property broken: DN \(text.debugDescription) printed as \(printed.debugDescription) does not parse: \(error)")
    }
    expect(reparsed == dn, "DN \(text.debugDescription) printed as \(printed.debugDescription) parses to a different DN")
    expect(reparsed.description == printed, "DN \(printed.debugDescription) reprinted as \(reparsed.description.debugDescription)")
    expect(reparsed.normalized == dn.normalized, "DN \(printed.debugDescription) normalizes differently after a round trip")
    expect(dn.matches(reparsed), "DN \(printed.debugDescription) does not match its round trip")
    let normalizedText = dn.normalized.description
    do {
        let normalizedAgain = try DistinguishedName(parsing: normalizedText).normalized
        expect(normalizedAgain == dn.normalized,
               "normalized DN \(normalizedText.debugDescription) of \(printed.debugDescription) normalizes to another DN")
    } catch {
        fatalError("property broken: normalized DN \(normalizedText.debugDescription) of \(printed.debugDescription) does not parse: \(error)")
    }
}

func checkFilterEscape(_ value: [UInt8]) {
    let escaped = Filter.escape(value)
    let filterText = "(a=\(escaped))"
    do {
        let filter = try Filter(parsing: filterText)
        expect(filter == .equality("a", value), "escaped value \(value) in \(filterText.debugDescription) parses to \(filter)")
    } catch {
        fatalError("property broken: escaped value \(value) in \(filterText.debugDescription) does not parse: \(error)")
    }
}

func checkFilter(_ text: String) {
    guard let filter = try? Filter(parsing: text) else { return }
    let printed = filter.description
    do {
        let reparsed = try Filter(parsing: printed)
        expect(reparsed == filter, "filter \(text.debugDescription) printed as \(printed.debugDescription) parses to another filter")
        expect(reparsed.description == printed, "filter \(printed.debugDescription) reprinted as \(reparsed.description.debugDescription)")
    } catch {
        fatalError("property broken: filter \(text.debugDescription) printed as \(printed.debugDescription) does not parse: \(error)")
    }
}

/// Years GeneralizedTime and the patterns can print (SPEC: four digits).
let printableYears = 0...9999

func checkTimestamps(_ text: String) {
    if let time = try? Timestamp(generalizedTime: text), printableYears.contains(time.components.year) {
        let printed = time.generalizedTime
        do {
            let reparsed = try Timestamp(generalizedTime: printed)
            expect(reparsed == time, "GeneralizedTime \(text.debugDescription) printed as \(printed) reads as \(reparsed)")
        } catch {
            fatalError("property broken: GeneralizedTime \(text.debugDescription) printed as \(printed) does not parse: \(error)")
        }
    }
    if let time = try? Timestamp(iso8601: text), printableYears.contains(time.components.year) {
        let printed = time.iso8601
        do {
            let reparsed = try Timestamp(iso8601: printed)
            expect(reparsed == time, "ISO 8601 \(text.debugDescription) printed as \(printed) reads as \(reparsed)")
        } catch {
            fatalError("property broken: ISO 8601 \(text.debugDescription) printed as \(printed) does not parse: \(error)")
        }
    }
}

/// The pattern is the text before the first NUL; the 8 bytes after it choose the time.
func checkPattern(_ bytes: [UInt8]) {
    let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
    let text = String(decoding: bytes[..<split], as: UTF8.self)
    guard let pattern = try? TimestampPattern(text) else { return }
    do {
        let recompiled = try TimestampPattern(pattern.canonicalText)
        expect(recompiled == pattern, "pattern \(text.debugDescription) has canonical text \(pattern.canonicalText.debugDescription), another pattern")
    } catch {
        fatalError("property broken: canonical text \(pattern.canonicalText.debugDescription) of \(text.debugDescription) does not compile: \(error)")
    }
    var seed: UInt64 = 0
    for byte in bytes.dropFirst(split + 1).prefix(8) { seed = seed << 8 | UInt64(byte) }
    // 0001-01-01 up to 9999-12-31, any nanosecond.
    let earliest: Int64 = -62_135_596_800, latest: Int64 = 253_402_300_799
    let time = Timestamp(seconds: earliest + Int64(seed % UInt64(latest - earliest + 1)),
                         nanoseconds: Int32(truncatingIfNeeded: (seed >> 40) % 1_000_000_000))
    let fields = Set(pattern.elements.compactMap { element -> TimestampPattern.Field? in
        if case .field(let field) = element { field } else { nil }
    })
    guard fields.isSuperset(of: [.year, .month, .day]) else { return }
    let formatted = pattern.format(time)
    do {
        let parsed = try pattern.parse(formatted)
        expect(pattern.format(parsed) == formatted,
               "pattern \(text.debugDescription): \(time) formats as \(formatted.debugDescription), which reads as \(parsed), formatted \(pattern.format(parsed).debugDescription)")
        expect(parsed <= time, "pattern \(text.debugDescription): \(time) formats as \(formatted.debugDescription), which reads as the later \(parsed)")
    } catch {
        fatalError("property broken: pattern \(text.debugDescription) cannot read its own \(formatted.debugDescription) (\(time)): \(error)")
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

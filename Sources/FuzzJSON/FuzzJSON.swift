// libFuzzer target: RFC 8785 canonical JSON and the `json` transform (make fuzz,
// docs/reliability.md).
//
// The first byte of an input chooses the property checked on the rest:
//   0  CanonicalJSON: the canonical form of a text is its own canonical form, and
//      Foundation's JSONSerialization reads it (it is JSON).
//   1  app → LDAP: app text the `json` transform accepts gives LDAP values that come
//      back to the app as a text which gives the same set of LDAP values, and
//      `Transforms.roundTrips` agrees that the text round-trips.
//   2  LDAP → app: LDAP values (the rest split on NUL) that the transform accepts give an
//      app text that goes to LDAP and back to the very same text.
// A broken property is a fatalError, which libFuzzer reports as a crash with the input.
import FuzzSupport
import DirectoryModel
import Foundation
import SyncEngine

func check(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let rest = Array(input.dropFirst())
    switch selector % 3 {
    case 0: checkCanonical(String(decoding: rest, as: UTF8.self))
    case 1: checkFromApp(String(decoding: rest, as: UTF8.self))
    default: checkFromLDAP(rest.split(separator: 0, omittingEmptySubsequences: false).map(Array.init))
    }
}

func checkCanonical(_ text: String) {
    guard let canonical = try? CanonicalJSON.canonicalize(text) else { return }
    do {
        let again = try CanonicalJSON.canonicalize(canonical)
        expect(again == canonical, "canonical form \(canonical.debugDescription) of \(text.debugDescription) canonicalizes to \(again.debugDescription)")
    } catch {
        fatalError("property broken: canonical form \(canonical.debugDescription) of \(text.debugDescription) is refused: \(error)")
    }
    do {
        _ = try JSONSerialization.jsonObject(with: Data(canonical.utf8), options: [.fragmentsAllowed])
    } catch {
        fatalError("property broken: Foundation cannot read the canonical form \(canonical.debugDescription) of \(text.debugDescription): \(error)")
    }
}

func ldapValues(_ value: AppValue) throws(TransformError) -> [[UInt8]] {
    try Transforms.ldapValues(fromApp: value, transform: .json, multiValued: true)
}

func appValue(_ values: [[UInt8]]) throws(TransformError) -> AppValue {
    try Transforms.appValue(fromLDAP: values, transform: .json, multiValued: true)
}

func checkFromApp(_ text: String) {
    guard let values = try? ldapValues(.text(text)) else { return }
    do {
        let app = try appValue(values)
        let valuesAgain = try ldapValues(app)
        expect(Set(valuesAgain) == Set(values), "app text \(text.debugDescription) → LDAP → \(app) → other LDAP values")
        expect(valuesAgain.count == values.count, "app text \(text.debugDescription) gave repeated LDAP values")
    } catch {
        fatalError("property broken: LDAP values \(values) of app text \(text.debugDescription) are refused on the way back: \(error)")
    }
    expect(Transforms.roundTrips(app: .text(text), transform: .json, multiValued: true),
           "app text \(text.debugDescription) converts both ways but roundTrips says it does not")
}

func checkFromLDAP(_ values: [[UInt8]]) {
    guard let app = try? appValue(values) else { return }
    do {
        let appAgain = try appValue(try ldapValues(app))
        expect(appAgain == app, "LDAP values \(values) → \(app) → LDAP → \(appAgain)")
    } catch {
        fatalError("property broken: app value \(app) of LDAP values \(values) is refused on the way back: \(error)")
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

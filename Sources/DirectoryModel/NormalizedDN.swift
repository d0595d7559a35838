/// A DN reduced to the form in which directories compare names, for use as a key or
/// for ``DistinguishedName/matches(_:)``.
///
/// This approximates the `distinguishedNameMatch` of RFC 4517 with every naming
/// attribute compared by `caseIgnoreMatch`, without the server's schema:
/// - attribute types compare case-insensitively; a name and its OID (`cn`, `2.5.4.3`)
///   are *not* resolved into each other;
/// - a UTF-8 value drops leading and trailing spaces and folds each run of inner spaces
///   into one (RFC 4518 §2.6.1; tab, CR, LF, NEL and Unicode space separators count as
///   spaces), then compares case-insensitively (upper-cased then lower-cased, so `ß`
///   matches `SS`) and up to Unicode canonical equivalence (Swift `String` equality);
///   RFC 4518's NFKC and its "map to nothing" step are not applied;
/// - a value that is not UTF-8, and a `#` BER value, compare as exact octets; a BER value
///   never matches a string value;
/// - the order of the pairs in a multi-valued RDN does not matter.
///
/// A directory whose naming attribute uses an exact matching rule (such as
/// `octetStringMatch` or `caseExactMatch`) would keep names apart that this form merges.
public struct NormalizedDN: Hashable, Sendable, CustomStringConvertible {
    /// Each RDN's pairs, sorted so that their written order does not matter.
    private let rdns: [[NormalizedAttribute]]

    /// The normalized form of `dn`; also available as ``DistinguishedName/normalized``.
    public init(_ dn: DistinguishedName) {
        self.rdns = dn.rdns.map { rdn in rdn.attributes.map(NormalizedAttribute.init).sorted() }
    }

    /// Whether this DN names an entry strictly below `ancestor`.
    public func isDescendant(of ancestor: NormalizedDN) -> Bool {
        rdns.count > ancestor.rdns.count && isEqualOrDescendant(of: ancestor)
    }

    /// Whether this DN names `ancestor` itself or an entry below it.
    public func isEqualOrDescendant(of ancestor: NormalizedDN) -> Bool {
        rdns.count >= ancestor.rdns.count && rdns.suffix(ancestor.rdns.count).elementsEqual(ancestor.rdns)
    }

    /// The normalized DN in RFC 4514 form: lower-cased types, folded values, pairs of a
    /// multi-valued RDN in sorted order. For display and logs; two normalized DNs that are
    /// equal only through canonical equivalence print differently, so compare the values,
    /// not their descriptions.
    public var description: String {
        rdns.map { rdn in rdn.map(\.description).joined(separator: "+") }.joined(separator: ",")
    }
}

/// One `type=value` pair in normalized form.
struct NormalizedAttribute: Hashable, Sendable, Comparable, CustomStringConvertible {
    enum Value: Hashable, Sendable {
        /// A UTF-8 string value, folded.
        case text(String)
        /// A string value that is not UTF-8, compared as octets.
        case octets([UInt8])
        /// A `#` value's BER encoding, compared as octets.
        case ber([UInt8])
    }

    let type: String
    let value: Value

    init(_ attribute: AttributeTypeAndValue) {
        self.type = attribute.type.folded
        if attribute.isBEREncoded {
            self.value = .ber(attribute.value)
        } else if let text = UTF8Text.string(attribute.value) {
            self.value = .text(CaseIgnoreFolding.fold(text))
        } else {
            self.value = .octets(attribute.value)
        }
    }

    /// A total order consistent with `==` (String's `<` follows canonical equivalence).
    static func < (lhs: NormalizedAttribute, rhs: NormalizedAttribute) -> Bool {
        if lhs.type != rhs.type { return lhs.type < rhs.type }
        switch (lhs.value, rhs.value) {
        case let (.text(left), .text(right)): return left < right
        case let (.octets(left), .octets(right)), let (.ber(left), .ber(right)):
            return left.lexicographicallyPrecedes(right)
        default: return lhs.value.rank < rhs.value.rank
        }
    }

    var description: String {
        let attribute = switch value {
        case .text(let text):
            AttributeTypeAndValue(unchecked: AttributeName(type), value: Array(text.utf8), isBEREncoded: false)
        case .octets(let octets):
            AttributeTypeAndValue(unchecked: AttributeName(type), value: octets, isBEREncoded: false)
        case .ber(let encoding):
            AttributeTypeAndValue(unchecked: AttributeName(type), value: encoding, isBEREncoded: true)
        }
        return attribute.description
    }
}

extension NormalizedAttribute.Value {
    /// Orders values of different kinds.
    fileprivate var rank: Int {
        switch self {
        case .text: 0
        case .octets: 1
        case .ber: 2
        }
    }
}

/// The caseIgnoreMatch approximation applied to a UTF-8 value.
enum CaseIgnoreFolding {
    /// Drops leading and trailing spaces, folds inner runs of spaces into one, and folds
    /// case (upper-case then lower-case, which maps `ß` and `SS` to `ss`).
    static func fold(_ text: String) -> String {
        var folded = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if isSpace(scalar) {
                pendingSpace = !folded.isEmpty
                continue
            }
            if pendingSpace {
                folded.append(" ")
                pendingSpace = false
            }
            folded.append(scalar)
        }
        return String(folded).uppercased().lowercased()
    }

    /// RFC 4518 §2.2 maps these to SPACE before the insignificant-space step.
    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0x85: true
        default: scalar.properties.generalCategory == .spaceSeparator
        }
    }
}

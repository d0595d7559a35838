import DirectoryModel

extension SplitMix64 {
    static let filterAttributes: [AttributeName] = [
        "cn", "objectClass", "mail;lang-en", "2.5.4.3", "modifyTimestamp", "userCertificate;binary",
    ]
    static let matchingRules = ["caseExactMatch", "2.4.6.8.10", "1.2.840.113556.1.4.803"]

    /// A random filter up to four levels deep.
    mutating func filter(depth: Int = 0) -> Filter {
        let composite = depth < 3 && chance(1, in: 3)
        return composite ? compositeFilter(depth: depth) : itemFilter()
    }

    private mutating func compositeFilter(depth: Int) -> Filter {
        switch int(0...2) {
        case 0: .and((0..<int(0...3)).map { _ in filter(depth: depth + 1) })
        case 1: .or((0..<int(0...3)).map { _ in filter(depth: depth + 1) })
        default: .not(filter(depth: depth + 1))
        }
    }

    private mutating func itemFilter() -> Filter {
        let attribute = element(of: Self.filterAttributes)
        let value = HostileValues.value(using: &self)
        switch int(0...6) {
        case 0: return .equality(attribute, value)
        case 1: return .greaterOrEqual(attribute, value)
        case 2: return .lessOrEqual(attribute, value)
        case 3: return .approx(attribute, value)
        case 4: return .present(attribute)
        case 5: return substringFilter(attribute)
        default: return extensibleFilter(attribute, value)
        }
    }

    /// Absent parts are `nil` or left out, never empty: the form a parsed filter has.
    private mutating func substringFilter(_ attribute: AttributeName) -> Filter {
        .substring(
            attribute,
            initial: chance(1, in: 2) ? HostileValues.nonEmptyValue(using: &self) : nil,
            any: (0..<int(0...3)).map { _ in HostileValues.nonEmptyValue(using: &self) },
            final: chance(1, in: 2) ? HostileValues.nonEmptyValue(using: &self) : nil
        )
    }

    private mutating func extensibleFilter(_ attribute: AttributeName, _ value: [UInt8]) -> Filter {
        let rule = chance(1, in: 2) ? element(of: Self.matchingRules) : nil
        let withAttribute = rule == nil || chance(1, in: 2)
        return .extensible(withAttribute ? attribute : nil, matchingRule: rule, dnAttributes: chance(1, in: 2), value: value)
    }
}

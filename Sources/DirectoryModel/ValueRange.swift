/// A range of an attribute's values, as Active Directory's range retrieval names it in an
/// attribute option: `member;range=0-1499` (values 0 to 1499, more follow) or
/// `member;range=1500-*` (values from 1500 to the last).
///
/// AD answers a multi-valued attribute with more values than its `MaxValRange` (1500 on
/// current Windows) in ranges; a client that takes the first range for the whole list
/// silently loses members. A client may also ask for a range itself by requesting the
/// option.
public struct ValueRange: Hashable, Sendable, CustomStringConvertible {
    /// The index of the first value.
    public var low: Int
    /// The index of the last value; nil for `*`: the range reaches the last value.
    public var high: Int?

    public init(low: Int, high: Int?) {
        self.low = low
        self.high = high
    }

    /// The range of `size` values starting at `low`, or every value from `low` when
    /// `size` is nil (let the server decide how many it returns).
    public init(low: Int, size: Int?) {
        self.init(low: low, high: size.map { low + $0 - 1 })
    }

    /// Whether the range ends with the attribute's last value.
    public var isLast: Bool { high == nil }

    /// The option text: `range=0-1499`, `range=1500-*`.
    public var description: String { "range=\(low)-\(high.map(String.init) ?? "*")" }

    /// Parses one option (`range=0-1499`, `Range=10-*`); nil when it is not a range
    /// option or is malformed (bounds that are not decimal, high below low).
    public init?(option: String) {
        let text = option.lowercased()
        guard text.hasPrefix("range=") else { return nil }
        let bounds = text.dropFirst("range=".count).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2, let low = Self.number(bounds[0]) else { return nil }
        if bounds[1] == "*" {
            self.init(low: low, high: nil)
            return
        }
        guard let high = Self.number(bounds[1]), high >= low else { return nil }
        self.init(low: low, high: high)
    }

    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 10, text.utf8.allSatisfy({ ASCII.isDigit($0) }) else { return nil }
        return Int(text)
    }
}

extension AttributeName {
    /// The range option of the description (`member;range=0-1499`), if it has one.
    public var range: ValueRange? {
        options.lazy.compactMap(ValueRange.init(option:)).first
    }

    /// The attribute type with `range` as its only option (`member;range=1500-*`).
    public func withRange(_ range: ValueRange) -> AttributeName {
        AttributeName("\(type.description);\(range)")
    }
}

/// One attribute of an entry: a name and its values as raw bytes.
///
/// Values are never decoded as text here: `jpegPhoto`, `objectGUID` and `entryUUID` must
/// survive byte for byte, and a text attribute holding invalid UTF-8 must be reported,
/// not silently replaced.
public struct Attribute: Hashable, Sendable {
    public var name: AttributeName
    public var values: [[UInt8]]

    public init(_ name: AttributeName, values: [[UInt8]]) {
        self.name = name
        self.values = values
    }

    public init(_ name: AttributeName, strings: [String]) {
        self.init(name, values: strings.map { Array($0.utf8) })
    }
}

/// A directory entry as read from or written to a server: its DN and its attributes in
/// the order the server sent them.
public struct Entry: Hashable, Sendable {
    /// The DN as the server returned it (RFC 4514 string form).
    public var dn: String
    public var attributes: [Attribute]

    public init(dn: String, attributes: [Attribute] = []) {
        self.dn = dn
        self.attributes = attributes
    }

    /// The values of an attribute, looked up case-insensitively; `nil` when absent.
    /// Options are part of the name: `entry["member"]` does not find `member;range=0-1499`.
    public subscript(name: AttributeName) -> [[UInt8]]? {
        get { attributes.first { $0.name == name }?.values }
        set {
            if let index = attributes.firstIndex(where: { $0.name == name }) {
                if let newValue { attributes[index].values = newValue } else { attributes.remove(at: index) }
            } else if let newValue {
                attributes.append(Attribute(name, values: newValue))
            }
        }
    }

    /// The first value of an attribute as UTF-8 text, or `nil` when the attribute is
    /// absent or its first value is not valid UTF-8 (never a lossy replacement).
    public func string(_ name: AttributeName) -> String? {
        guard let first = self[name]?.first else { return nil }
        return UTF8Text.string(first)
    }
}

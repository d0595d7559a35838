import DirectoryModel

/// An attribute type from the server's subschema (RFC 4512 §4.1.2), with inherited
/// properties resolved through its `SUP` chain.
public struct AttributeTypeDefinition: Sendable, Hashable {
    public var oid: String
    /// All names (`mail`, `rfc822Mailbox`).
    public var names: [String]
    public var superior: String?
    /// The equality matching rule (`caseIgnoreMatch`, `caseIgnoreIA5Match`, `octetStringMatch`).
    public var equality: String?
    public var ordering: String?
    public var syntax: String?
    public var isSingleValued: Bool
    /// `NO-USER-MODIFICATION`: only the server writes it (entryUUID, modifyTimestamp).
    public var isNoUserModification: Bool
    /// `directoryOperation`, `dSAOperation`, ... (nil for user applications).
    public var usage: String?

    /// Whether values compare case-insensitively under the equality rule.
    public var isCaseInsensitive: Bool {
        guard let equality = equality?.lowercased() else { return false }
        return equality.hasPrefix("caseignore") || equality == "numericstringmatch" || equality == "telephonenumbermatch"
            || equality == "distinguishednamematch" || equality == "objectidentifiermatch"
    }
}

/// An object class from the subschema (RFC 4512 §4.1.1).
public struct ObjectClassDefinition: Sendable, Hashable {
    public enum Kind: String, Sendable { case abstract = "ABSTRACT", structural = "STRUCTURAL", auxiliary = "AUXILIARY" }
    public var oid: String
    public var names: [String]
    public var superiors: [String]
    public var kind: Kind
    public var must: [String]
    public var may: [String]
}

/// The server's schema: attribute types and object classes by name or OID
/// (case-insensitive).
public struct Schema: Sendable {
    public private(set) var attributeTypes: [AttributeTypeDefinition] = []
    public private(set) var objectClasses: [ObjectClassDefinition] = []
    private var attributeIndex: [String: Int] = [:]
    private var classIndex: [String: Int] = [:]

    /// Parses the `attributeTypes` and `objectClasses` values of a subschema entry. A
    /// description that cannot be parsed is an error naming it, never silently dropped.
    public init(attributeTypes: [String], objectClasses: [String]) throws(SchemaError) {
        for text in attributeTypes {
            let definition = try SchemaDescription(parsing: text).attributeType()
            for key in [definition.oid] + definition.names { attributeIndex[key.lowercased()] = self.attributeTypes.count }
            self.attributeTypes.append(definition)
        }
        for text in objectClasses {
            let definition = try SchemaDescription(parsing: text).objectClass()
            for key in [definition.oid] + definition.names { classIndex[key.lowercased()] = self.objectClasses.count }
            self.objectClasses.append(definition)
        }
        resolveInheritance()
    }

    /// The attribute type called `name` (any of its names, or its OID).
    public func attributeType(_ name: AttributeName) -> AttributeTypeDefinition? {
        attributeIndex[name.type.folded].map { attributeTypes[$0] }
    }

    /// The object class called `name`.
    public func objectClass(_ name: String) -> ObjectClassDefinition? {
        classIndex[name.lowercased()].map { objectClasses[$0] }
    }

    /// The attributes entries of these object classes may or must hold, following `SUP`
    /// chains, as lower-cased names and OIDs.
    public func allowedAttributes(forObjectClasses classes: [String]) -> Set<String> {
        var allowed: Set<String> = []
        var pending = classes
        var seen: Set<String> = []
        while let name = pending.popLast() {
            guard seen.insert(name.lowercased()).inserted, let definition = objectClass(name) else { continue }
            for attribute in definition.must + definition.may {
                allowed.insert(attribute.lowercased())
                if let type = attributeType(AttributeName(attribute)) {
                    allowed.formUnion(([type.oid] + type.names).map { $0.lowercased() })
                }
            }
            pending += definition.superiors
        }
        return allowed
    }

    /// Copies equality, ordering and syntax from superior types where a type does not
    /// state its own (`cn` inherits `caseIgnoreMatch` from `name`).
    private mutating func resolveInheritance() {
        for index in attributeTypes.indices {
            var current = attributeTypes[index]
            var hops = 0
            while (current.equality == nil || current.syntax == nil || current.ordering == nil),
                  let superior = current.superior, let parentIndex = attributeIndex[superior.lowercased()], hops < 16 {
                let parent = attributeTypes[parentIndex]
                if attributeTypes[index].equality == nil { attributeTypes[index].equality = parent.equality }
                if attributeTypes[index].ordering == nil { attributeTypes[index].ordering = parent.ordering }
                if attributeTypes[index].syntax == nil { attributeTypes[index].syntax = parent.syntax }
                current = parent
                hops += 1
            }
        }
    }
}

/// A schema description the parser could not read.
public struct SchemaError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "cannot parse schema description \(text): \(reason)" }
}

/// The tokens of one RFC 4512 description: `( oid NAME ( 'a' 'b' ) SUP x MUST ( a $ b ) SINGLE-VALUE )`.
struct SchemaDescription {
    var oid: String
    var fields: [String: [String]] = [:]

    init(parsing text: String) throws(SchemaError) {
        var tokens = try Self.tokenize(text)
        guard tokens.first == "(", tokens.last == ")", tokens.count >= 3 else {
            throw SchemaError(text: text, reason: "expected ( oid ... )")
        }
        tokens.removeFirst()
        tokens.removeLast()
        oid = tokens.removeFirst()
        var index = 0
        while index < tokens.count {
            let keyword = tokens[index].uppercased()
            index += 1
            var values: [String] = []
            if index < tokens.count, tokens[index] == "(" {
                index += 1
                while index < tokens.count, tokens[index] != ")" {
                    if tokens[index] != "$" { values.append(tokens[index]) }
                    index += 1
                }
                index += 1
            } else if index < tokens.count, !Self.isKeyword(tokens[index]) {
                values.append(tokens[index])
                index += 1
            }
            fields[keyword, default: []] += values
        }
    }

    /// Keywords are upper-case letters, digits and hyphens (`SINGLE-VALUE`, `X-ORDERED`);
    /// a flag keyword has no value after it.
    private static func isKeyword(_ token: String) -> Bool {
        !token.isEmpty && token.allSatisfy { $0.isUppercase || $0 == "-" || $0 == "_" }
            && token.first?.isLetter == true
    }

    /// The tokens of a definition: parentheses, quoted strings (without their quotes)
    /// and the words between blanks. Walked as UTF-8 bytes: the delimiters are ASCII,
    /// which no byte of a multi-byte character is (a subschema has about 1,500
    /// definitions, and walking them by `Character` was most of a run's schema read).
    private static func tokenize(_ text: String) throws(SchemaError) -> [String] {
        var tokens: [String] = []
        let bytes = text.utf8
        var wordStart: String.Index?
        var quoteStart: String.Index?
        func endWord(at end: String.Index) {
            if let start = wordStart { tokens.append(String(text[start..<end])) }
            wordStart = nil
        }
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if let start = quoteStart {
                if byte == UInt8(ascii: "'") {
                    tokens.append(String(text[start..<index]))
                    quoteStart = nil
                }
            } else {
                switch byte {
                case UInt8(ascii: "'"):
                    endWord(at: index)
                    quoteStart = bytes.index(after: index)
                case UInt8(ascii: "("), UInt8(ascii: ")"):
                    endWord(at: index)
                    tokens.append(byte == UInt8(ascii: "(") ? "(" : ")")
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    endWord(at: index)
                default:
                    if wordStart == nil { wordStart = index }
                }
            }
            index = bytes.index(after: index)
        }
        if quoteStart != nil { throw SchemaError(text: text, reason: "unterminated quoted string") }
        endWord(at: bytes.endIndex)
        return tokens
    }

    func attributeType() -> AttributeTypeDefinition {
        AttributeTypeDefinition(
            oid: oid, names: fields["NAME"] ?? [], superior: fields["SUP"]?.first,
            equality: fields["EQUALITY"]?.first, ordering: fields["ORDERING"]?.first,
            syntax: fields["SYNTAX"]?.first,
            isSingleValued: fields["SINGLE-VALUE"] != nil,
            isNoUserModification: fields["NO-USER-MODIFICATION"] != nil,
            usage: fields["USAGE"]?.first)
    }

    func objectClass() -> ObjectClassDefinition {
        let kind: ObjectClassDefinition.Kind =
            fields["ABSTRACT"] != nil ? .abstract : fields["AUXILIARY"] != nil ? .auxiliary : .structural
        return ObjectClassDefinition(
            oid: oid, names: fields["NAME"] ?? [], superiors: fields["SUP"] ?? [], kind: kind,
            must: fields["MUST"] ?? [], may: fields["MAY"] ?? [])
    }
}

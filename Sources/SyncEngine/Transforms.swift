import DirectoryModel

/// How a mapped attribute's values are changed between the app column and LDAP (SPEC §5,
/// the `transform` key of an attribute).
///
/// SyncConfig decodes the same key into its own `ValueTransform` (the engine does not
/// depend on configuration); a module importing both must qualify the name.
public enum ValueTransform: Sendable, Hashable {
    /// The app column holds a JSON array of objects; each object is one LDAP value, in its
    /// RFC 8785 canonical form (``CanonicalJSON``). Needs `multiValued: true`.
    case json
    /// Every value lower-cased (Unicode's default, locale-independent mapping), in both
    /// directions.
    case lowercase
    /// White space (Unicode `White_Space`) removed from both ends of every value, in both
    /// directions.
    case trim
    /// One app text ↔ several LDAP values: the text split on the separator (empty pieces
    /// dropped) gives the LDAP values, which are joined with it in LDAP value order the
    /// other way. The app column is single-valued (`multiValued: false`); the separator is
    /// matched literally and the pieces are not trimmed (use `", "` for "a, b, c").
    case join(String)
}

/// Conversions between an app column value and an attribute's LDAP values through the
/// attribute's transform (SPEC §5).
///
/// Rules shared by every transform:
/// - NULL ↔ no LDAP values. An empty app text, an empty JSON array, and an app value that
///   the transform reduces to nothing (`"  "` under `trim`) also give no LDAP values, and
///   no LDAP values give NULL: LDAP cannot hold an empty text value (RFC 4517 directory
///   strings have at least one character).
/// - Empty LDAP values are ignored, and the LDAP values written are never empty and never
///   repeated (an attribute's values are a set; the first occurrence is kept).
/// - A multi-valued column without a transform holds a JSON array of strings
///   (``JSONStringArray``); with `lowercase` or `trim` the transform applies to each element.
public enum Transforms {
    /// App column value → the LDAP values to write (bytes, UTF-8).
    ///
    /// Without a transform, `.integer` gives its decimal text and `.blob` its bytes as they
    /// are (single-valued only); a multi-valued column must hold text.
    public static func ldapValues(fromApp value: AppValue, transform: ValueTransform?,
                                  multiValued: Bool) throws(TransformError) -> [[UInt8]] {
        let values: [[UInt8]]
        switch transform {
        case nil:
            if multiValued {
                values = try appStrings(value).map { Array($0.utf8) }
            } else {
                switch value {
                case .null: values = []
                case .text(let text): values = [Array(text.utf8)]
                case .integer(let number): values = [Array(String(number).utf8)]
                case .blob(let bytes): values = [bytes]
                }
            }
        case .lowercase, .trim:
            let strings: [String]
            if multiValued {
                strings = try appStrings(value)
            } else if let text = try appText(value, transform: transform) {
                strings = [text]
            } else {
                strings = []
            }
            values = strings.map { Array(apply(transform, to: $0).utf8) }
        case .json:
            try requireMultiValued(true, multiValued, "the json transform")
            guard let text = try appText(value, transform: .json) else { return [] }
            do {
                values = try CanonicalJSON.canonicalObjects(inArray: Array(text.utf8))
            } catch {
                throw error.transformError("app value is not a JSON array of objects")
            }
        case .join(let separator):
            try requireMultiValued(false, multiValued, "the join transform")
            try requireSeparator(separator)
            guard let text = try appText(value, transform: transform) else { return [] }
            values = split(Array(text.utf8), on: Array(separator.utf8))
        }
        return distinctNonEmpty(values)
    }

    /// LDAP values → the app column value.
    ///
    /// Without a transform, single-valued gives `.text` of the first value and multi-valued
    /// a JSON array of strings in LDAP value order. `json` gives the compact JSON array of
    /// the canonical objects, ordered by their canonical UTF-8 bytes, so the same set of
    /// LDAP values always gives the same text. `join` refuses an LDAP value that contains
    /// the separator, since the joined text could not be split back into the same values.
    /// Text values must be valid UTF-8.
    public static func appValue(fromLDAP values: [[UInt8]], transform: ValueTransform?,
                                multiValued: Bool) throws(TransformError) -> AppValue {
        var values = values.filter { !$0.isEmpty }
        switch transform {
        case nil, .lowercase, .trim:
            // A single-valued column takes the first value; the others are not read.
            if !multiValued { values = Array(values.prefix(1)) }
            var strings: [String] = []
            strings.reserveCapacity(values.count)
            for (position, value) in values.enumerated() {
                strings.append(apply(transform, to: try text(value, position: position, count: values.count)))
            }
            let distinct = distinctNonEmpty(strings.map { Array($0.utf8) })
            guard let first = distinct.first else { return .null }
            if multiValued {
                return .text(JSONStringArray.encode(distinct.map { String(decoding: $0, as: UTF8.self) }))
            }
            return .text(String(decoding: first, as: UTF8.self))
        case .json:
            try requireMultiValued(true, multiValued, "the json transform")
            var objects: [[UInt8]] = []
            objects.reserveCapacity(values.count)
            for (position, value) in values.enumerated() {
                do {
                    objects.append(try CanonicalJSON.canonicalObject(value))
                } catch {
                    throw error.transformError("\(ldapValueName(position, values.count)) is not a JSON object")
                }
            }
            let sorted = distinctNonEmpty(objects).sorted { $0.lexicographicallyPrecedes($1) }
            guard !sorted.isEmpty else { return .null }
            var out: [UInt8] = [UInt8(ascii: "[")]
            for (position, object) in sorted.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                out += object
            }
            out.append(UInt8(ascii: "]"))
            return .text(String(decoding: out, as: UTF8.self))
        case .join(let separator):
            try requireMultiValued(false, multiValued, "the join transform")
            try requireSeparator(separator)
            let separatorBytes = Array(separator.utf8)
            var pieces: [[UInt8]] = []
            for (position, value) in values.enumerated() {
                _ = try text(value, position: position, count: values.count)
                if let offset = firstOccurrence(of: separatorBytes, in: value) {
                    throw TransformError("\(ldapValueName(position, values.count)) contains the join separator, "
                                         + "so the app text could not be split back into the same values",
                                         offset: offset)
                }
                pieces.append(value)
            }
            let distinct = distinctNonEmpty(pieces)
            guard !distinct.isEmpty else { return .null }
            return .text(String(decoding: Array(distinct.joined(separator: separatorBytes)), as: UTF8.self))
        }
    }

    /// Whether ldap→app→ldap and app→ldap→app give back the same (by canonical comparison)
    /// for these example values; used by doctor and config checks for `direction: both`.
    ///
    /// The app value is carried to LDAP and back and compared with the original in its
    /// canonical form: NULL, empty text and an empty array are all "no value"; a
    /// multi-valued column compares as a set of strings (a `json` column as the set of its
    /// canonical objects); `.integer` compares as its decimal text. The LDAP values it gave
    /// are then carried to the app and back and compared as a set. A value that either
    /// direction refuses does not round-trip, nor does any value under a transform that
    /// the column's `multiValued` does not allow.
    public static func roundTrips(app value: AppValue, transform: ValueTransform?, multiValued: Bool) -> Bool {
        do {
            let ldap = try ldapValues(fromApp: value, transform: transform, multiValued: multiValued)
            let back = try appValue(fromLDAP: ldap, transform: transform, multiValued: multiValued)
            guard try canonicalForm(value, transform: transform, multiValued: multiValued)
                == canonicalForm(back, transform: transform, multiValued: multiValued) else { return false }
            let ldapAgain = try ldapValues(fromApp: back, transform: transform, multiValued: multiValued)
            return Set(ldap) == Set(ldapAgain)
        } catch {
            return false
        }
    }

    // MARK: - Helpers

    /// An app value as `roundTrips` compares it.
    private enum CanonicalAppValue: Hashable {
        case none
        case single([UInt8])
        case set(Set<[UInt8]>)
    }

    private static func canonicalForm(_ value: AppValue, transform: ValueTransform?,
                                      multiValued: Bool) throws(TransformError) -> CanonicalAppValue {
        if transform == .json {
            guard let text = try appText(value, transform: .json) else { return .none }
            do {
                let objects = try CanonicalJSON.canonicalObjects(inArray: Array(text.utf8))
                return objects.isEmpty ? .none : .set(Set(objects))
            } catch {
                throw error.transformError("app value is not a JSON array of objects")
            }
        }
        if multiValued {
            let strings = try appStrings(value)
            return strings.isEmpty ? .none : .set(Set(strings.map { Array($0.utf8) }))
        }
        switch value {
        case .null: return .none
        case .text(let text): return text.isEmpty ? .none : .single(Array(text.utf8))
        case .integer(let number): return .single(Array(String(number).utf8))
        case .blob(let bytes): return bytes.isEmpty ? .none : .single(bytes)
        }
    }

    private static func apply(_ transform: ValueTransform?, to text: String) -> String {
        switch transform {
        case .lowercase: return text.lowercased()
        case .trim: return trimmed(text)
        default: return text
        }
    }

    private static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        var start = scalars.startIndex, end = scalars.endIndex
        while start < end, scalars[start].properties.isWhitespace { scalars.formIndex(after: &start) }
        while end > start, scalars[scalars.index(before: end)].properties.isWhitespace { scalars.formIndex(before: &end) }
        return String(scalars[start..<end])
    }

    /// A multi-valued column's strings: NULL and empty text are none.
    private static func appStrings(_ value: AppValue) throws(TransformError) -> [String] {
        switch value {
        case .null: return []
        case .text(let text):
            if text.isEmpty { return [] }
            do {
                return try JSONStringArray.decode(text)
            } catch {
                throw TransformError("app value is not a JSON array of strings: expected \(error.expected)",
                                     offset: error.offset)
            }
        case .integer:
            throw TransformError("app value of a multi-valued attribute is an integer, not text holding a JSON array of strings")
        case .blob:
            throw TransformError("app value of a multi-valued attribute is binary, not text holding a JSON array of strings")
        }
    }

    /// A single app text for a transform that works on text: NULL and empty text are nil,
    /// an integer is its decimal text, binary data is refused.
    private static func appText(_ value: AppValue, transform: ValueTransform?) throws(TransformError) -> String? {
        switch value {
        case .null: return nil
        case .text(let text): return text.isEmpty ? nil : text
        case .integer(let number):
            if transform == .json { throw TransformError("app value is an integer, not text holding a JSON array of objects") }
            return String(number)
        case .blob:
            throw TransformError("app value is binary; the \(name(of: transform)) transform needs text")
        }
    }

    private static func text(_ value: [UInt8], position: Int, count: Int) throws(TransformError) -> String {
        guard let text = UTF8Text.string(value) else {
            throw TransformError("\(ldapValueName(position, count)) is not valid UTF-8 text", offset: firstInvalidUTF8Offset(value))
        }
        return text
    }

    /// The offset of the first byte where `bytes` stop being valid UTF-8.
    private static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    private static func ldapValueName(_ position: Int, _ count: Int) -> String {
        count == 1 ? "LDAP value" : "LDAP value \(position + 1) of \(count)"
    }

    private static func name(of transform: ValueTransform?) -> String {
        switch transform {
        case nil: "no"
        case .json: "json"
        case .lowercase: "lowercase"
        case .trim: "trim"
        case .join: "join"
        }
    }

    private static func requireMultiValued(_ required: Bool, _ multiValued: Bool, _ what: String) throws(TransformError) {
        guard required == multiValued else {
            throw TransformError("\(what) needs multiValued: \(required)")
        }
    }

    private static func requireSeparator(_ separator: String) throws(TransformError) {
        guard !separator.isEmpty else { throw TransformError("the join transform needs a non-empty separator") }
    }

    /// The values without empty ones and without repeats (first occurrence kept, in order).
    private static func distinctNonEmpty(_ values: [[UInt8]]) -> [[UInt8]] {
        var seen: Set<[UInt8]> = []
        return values.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// `bytes` split on every occurrence of `separator` (UTF-8 is self-synchronizing, so a
    /// byte match is a character-boundary match).
    private static func split(_ bytes: [UInt8], on separator: [UInt8]) -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        var start = 0, index = 0
        while index + separator.count <= bytes.count {
            if bytes[index..<index + separator.count].elementsEqual(separator) {
                pieces.append(Array(bytes[start..<index]))
                index += separator.count
                start = index
            } else {
                index += 1
            }
        }
        pieces.append(Array(bytes[start...]))
        return pieces
    }

    private static func firstOccurrence(of separator: [UInt8], in bytes: [UInt8]) -> Int? {
        guard separator.count <= bytes.count else { return nil }
        for index in 0...(bytes.count - separator.count)
        where bytes[index..<index + separator.count].elementsEqual(separator) {
            return index
        }
        return nil
    }
}

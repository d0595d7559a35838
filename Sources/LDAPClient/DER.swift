/// A reader of DER (ITU-T X.690), just enough of it for X.509 certificates: definite
/// lengths, single-byte tags, nested reads that can never run past their parent.
///
/// Every read checks its bounds and throws ``CertificateError`` on anything malformed; a
/// hostile or truncated certificate makes an error, never a crash.
struct DERReader {
    private let bytes: [UInt8]
    /// The next byte to read.
    private(set) var position: Int
    /// One past the last byte this reader may read.
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
    }

    private init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { position >= end }

    /// The tag of the next element without consuming it; nil at the end.
    var peekTag: UInt8? { isAtEnd ? nil : bytes[position] }

    /// One element: its tag, its content's byte range, and the whole encoding's range.
    struct Element {
        let tag: UInt8
        let content: Range<Int>
        let encoding: Range<Int>
    }

    /// Reads the next element, whatever its tag.
    mutating func readElement() throws(CertificateError) -> Element {
        let start = position
        guard position < end else { throw malformed("element expected, found the end of the data") }
        let tag = bytes[position]
        // Tag number 31 announces a multi-byte tag, which X.509 certificates never use.
        guard tag & 0x1F != 0x1F else { throw malformed("multi-byte tag") }
        position += 1
        guard position < end else { throw malformed("length expected, found the end of the data") }
        let first = bytes[position]
        position += 1
        var length: Int
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard count != 0 else { throw malformed("indefinite length (BER, not DER)") }
            guard count <= 4 else { throw malformed("length of \(count) bytes") }
            guard end - position >= count else { throw malformed("length runs past the end of the data") }
            length = 0
            for _ in 0..<count {
                length = length << 8 | Int(bytes[position])
                position += 1
            }
        }
        guard length <= end - position else {
            throw malformed("element of \(length) bytes runs past the end of its container")
        }
        let content = position..<(position + length)
        position += length
        return Element(tag: tag, content: content, encoding: start..<position)
    }

    /// Reads the next element and checks its tag.
    mutating func read(_ tag: UInt8, _ what: String) throws(CertificateError) -> Element {
        let at = position
        guard let found = peekTag else { throw malformed("\(what) expected, found the end of the data") }
        guard found == tag else {
            throw CertificateError(reason: "\(what) expected (tag 0x\(hex(tag))), found tag 0x\(hex(found))", offset: at)
        }
        return try readElement()
    }

    /// Reads the next element if it has `tag`; nil otherwise.
    mutating func readIfPresent(_ tag: UInt8) throws(CertificateError) -> Element? {
        peekTag == tag ? try readElement() : nil
    }

    /// A reader over an element's content (a SEQUENCE's or SET's members).
    func contents(of element: Element) -> DERReader {
        DERReader(bytes: bytes, range: element.content)
    }

    /// The bytes of a range this reader returned.
    func slice(_ range: Range<Int>) -> [UInt8] { Array(bytes[range]) }

    private func malformed(_ reason: String) -> CertificateError {
        CertificateError(reason: reason, offset: position)
    }

    private func hex(_ byte: UInt8) -> String {
        let text = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0" + text : text
    }
}

/// DER tags used by X.509.
enum DERTag {
    static let boolean: UInt8 = 0x01
    static let integer: UInt8 = 0x02
    static let bitString: UInt8 = 0x03
    static let octetString: UInt8 = 0x04
    static let objectIdentifier: UInt8 = 0x06
    static let utf8String: UInt8 = 0x0C
    static let printableString: UInt8 = 0x13
    static let teletexString: UInt8 = 0x14
    static let ia5String: UInt8 = 0x16
    static let utcTime: UInt8 = 0x17
    static let generalizedTime: UInt8 = 0x18
    static let universalString: UInt8 = 0x1C
    static let bmpString: UInt8 = 0x1E
    static let sequence: UInt8 = 0x30
    static let set: UInt8 = 0x31
    /// `[n]` constructed, context-specific (EXPLICIT tagging): `version [0]`, `extensions [3]`.
    static func explicit(_ number: UInt8) -> UInt8 { 0xA0 | number }
    /// `[n]` primitive, context-specific (IMPLICIT tagging): `dNSName [2]`, `iPAddress [7]`.
    static func implicit(_ number: UInt8) -> UInt8 { 0x80 | number }
}

/// A certificate that cannot be read: what was wrong and at which byte.
public struct CertificateError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    /// The byte offset in the DER where the problem was found.
    public var offset: Int

    public init(reason: String, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "malformed certificate: \(reason) (at byte \(offset))" }
}

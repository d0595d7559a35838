import DirectoryModel
#if canImport(Glibc)
import Glibc
#endif

/// The parts of an X.509 certificate (RFC 5280) that explain a failed TLS connection: who
/// it names, who issued it, and when it is valid.
///
/// It reads certificates; it verifies nothing (no signatures, no chains). libldap's TLS
/// library does the verifying; this says why it refused.
public struct PeerCertificate: Sendable, Equatable {
    /// The DER encoding the fields were read from.
    public let der: [UInt8]
    /// The subject's and issuer's Name, as encoded: equal bytes mean the same name (what
    /// a TLS library compares when it looks for the issuer among its trusted CAs).
    public let subjectName: [UInt8]
    public let issuerName: [UInt8]
    /// The names in RFC 4514 form, short attribute names where known
    /// (`CN=ldap.example.com,O=Example,C=US`).
    public let subject: String
    public let issuer: String
    /// The last `CN` of the subject and of the issuer, if any.
    public let subjectCommonName: String?
    public let issuerCommonName: String?
    public let notBefore: Timestamp
    public let notAfter: Timestamp
    /// The subjectAltName extension's dNSName entries, as written (`*.example.com`).
    public let dnsNames: [String]
    /// The subjectAltName extension's iPAddress entries (4 or 16 bytes each).
    public let ipAddresses: [[UInt8]]

    /// Reads a DER-encoded certificate.
    /// - Throws: ``CertificateError`` naming what is malformed and where.
    public init(der: [UInt8]) throws(CertificateError) {
        self.der = der
        var outer = DERReader(der)
        let certificate = try outer.read(DERTag.sequence, "Certificate SEQUENCE")
        guard outer.isAtEnd else {
            throw CertificateError(reason: "bytes after the certificate", offset: outer.position)
        }
        var fields = outer.contents(of: certificate)
        var tbs = fields.contents(of: try fields.read(DERTag.sequence, "TBSCertificate SEQUENCE"))
        _ = try tbs.readIfPresent(DERTag.explicit(0))  // version
        _ = try tbs.read(DERTag.integer, "serialNumber")
        _ = try tbs.read(DERTag.sequence, "signature AlgorithmIdentifier")
        let issuerElement = try tbs.read(DERTag.sequence, "issuer Name")
        var validity = tbs.contents(of: try tbs.read(DERTag.sequence, "validity"))
        let notBefore = try Self.time(&validity, "notBefore")
        let notAfter = try Self.time(&validity, "notAfter")
        let subjectElement = try tbs.read(DERTag.sequence, "subject Name")
        _ = try tbs.read(DERTag.sequence, "subjectPublicKeyInfo")
        _ = try tbs.readIfPresent(DERTag.implicit(1))  // issuerUniqueID
        _ = try tbs.readIfPresent(DERTag.implicit(2))  // subjectUniqueID
        var dnsNames: [String] = []
        var ipAddresses: [[UInt8]] = []
        if let extensions = try tbs.readIfPresent(DERTag.explicit(3)) {
            var wrapper = tbs.contents(of: extensions)
            var list = wrapper.contents(of: try wrapper.read(DERTag.sequence, "Extensions SEQUENCE"))
            while !list.isAtEnd {
                var item = list.contents(of: try list.read(DERTag.sequence, "Extension SEQUENCE"))
                let oid = list.slice(try item.read(DERTag.objectIdentifier, "extnID").content)
                _ = try item.readIfPresent(DERTag.boolean)  // critical
                let value = try item.read(DERTag.octetString, "extnValue")
                guard oid == Self.subjectAltNameOID else { continue }
                var octets = item.contents(of: value)
                var names = octets.contents(of: try octets.read(DERTag.sequence, "GeneralNames SEQUENCE"))
                while !names.isAtEnd {
                    let name = try names.readElement()
                    switch name.tag {
                    case DERTag.implicit(2):
                        dnsNames.append(Self.latin1(names.slice(name.content)))
                    case DERTag.implicit(7):
                        let address = names.slice(name.content)
                        guard address.count == 4 || address.count == 16 else {
                            throw CertificateError(reason: "iPAddress of \(address.count) bytes", offset: name.content.lowerBound)
                        }
                        ipAddresses.append(address)
                    default:
                        continue  // otherName, rfc822Name, directoryName, URI, …
                    }
                }
            }
        }
        let issuer = try Self.name(tbs.contents(of: issuerElement))
        let subject = try Self.name(tbs.contents(of: subjectElement))
        self.issuerName = tbs.slice(issuerElement.encoding)
        self.subjectName = tbs.slice(subjectElement.encoding)
        self.issuer = issuer.text
        self.subject = subject.text
        self.issuerCommonName = issuer.commonName
        self.subjectCommonName = subject.commonName
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
    }

    /// The certificates of a PEM file's `-----BEGIN CERTIFICATE-----` blocks, in order
    /// (a CA bundle). Other blocks (keys, CRLs) are ignored.
    public static func certificates(pem: String) throws(CertificateError) -> [PeerCertificate] {
        var result: [PeerCertificate] = []
        var body: [UInt8]?
        var blockStart = 0
        for (number, line) in pem.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.utf8.filter { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            if trimmed.elementsEqual("-----BEGINCERTIFICATE-----".utf8) {
                body = []
                blockStart = number + 1
            } else if trimmed.elementsEqual("-----ENDCERTIFICATE-----".utf8), let text = body {
                guard let der = Base64.decode(text) else {
                    throw CertificateError(reason: "invalid base64 in the PEM block starting on line \(blockStart)", offset: 0)
                }
                result.append(try PeerCertificate(der: der))
                body = nil
            } else if body != nil {
                body! += trimmed
            }
        }
        return result
    }

    /// True when the subject and the issuer are the same name (a self-signed
    /// certificate, or a root CA's).
    public var isSelfIssued: Bool { subjectName == issuerName }

    /// The names a host may be checked against, for messages: the subjectAltName DNS
    /// names and IP addresses, or the subject CN when there are none.
    public var hostNames: [String] {
        let alternative = dnsNames + ipAddresses.map(Self.ipText)
        if !alternative.isEmpty { return alternative }
        return subjectCommonName.map { [$0] } ?? []
    }

    /// Whether the certificate names `host` (RFC 6125 §6): an IP address matches an
    /// iPAddress entry; a DNS name matches a dNSName entry, case-insensitively, where a
    /// leftmost `*` label stands for exactly one label (`*.example.com` matches
    /// `ldap.example.com`, not `example.com` nor `a.b.example.com`). The subject CN counts
    /// only when there is no dNSName entry, as libldap and browsers before RFC 6125 did.
    public func names(host: String) -> Bool {
        if let address = Self.ipBytes(host) {
            return ipAddresses.contains(address)
        }
        let candidates = dnsNames.isEmpty ? (subjectCommonName.map { [$0] } ?? []) : dnsNames
        return candidates.contains { Self.dnsName($0, matches: host) }
    }

    // MARK: - Host names and addresses

    static func dnsName(_ pattern: String, matches host: String) -> Bool {
        let pattern = trailingDotRemoved(pattern.lowercased())
        let host = trailingDotRemoved(host.lowercased())
        guard !pattern.isEmpty, !host.isEmpty else { return false }
        guard pattern.hasPrefix("*.") else { return pattern == host }
        let suffix = pattern.dropFirst(1)  // ".example.com"
        // At least two labels after the wildcard: `*.com` names no one.
        guard suffix.dropFirst().contains("."), !suffix.contains("*") else { return false }
        guard host.hasSuffix(suffix) else { return false }
        let label = host.dropLast(suffix.count)
        return !label.isEmpty && !label.contains(".")
    }

    private static func trailingDotRemoved(_ name: String) -> String {
        name.hasSuffix(".") ? String(name.dropLast()) : name
    }

    /// The bytes of an IPv4 or IPv6 literal (without brackets); nil for anything else.
    public static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// `127.0.0.1`, `::1`.
    public static func ipText(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard written != nil else { return bytes.map { String($0) }.joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Fields

    /// 2.5.29.17
    private static let subjectAltNameOID: [UInt8] = [0x55, 0x1D, 0x11]
    /// 2.5.4.3
    private static let commonNameOID: [UInt8] = [0x55, 0x04, 0x03]

    /// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`),
    /// the two forms RFC 5280 §4.1.2.5 allows.
    private static func time(_ reader: inout DERReader, _ what: String) throws(CertificateError) -> Timestamp {
        let element = try reader.readElement()
        let text = reader.slice(element.content)
        let digits: [UInt8]
        switch element.tag {
        case DERTag.utcTime:
            guard text.count == 13 else { throw badTime(what, element) }
            let century: [UInt8] = text[0] < UInt8(ascii: "5") ? Array("20".utf8) : Array("19".utf8)
            digits = century + text
        case DERTag.generalizedTime:
            guard text.count == 15 else { throw badTime(what, element) }
            digits = text
        default:
            throw CertificateError(reason: "\(what): UTCTime or GeneralizedTime expected", offset: element.encoding.lowerBound)
        }
        guard digits.last == UInt8(ascii: "Z"), digits.dropLast().allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw badTime(what, element)
        }
        func number(_ start: Int, _ count: Int) -> Int {
            digits[start..<(start + count)].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        do {
            return try Timestamp(year: number(0, 4), month: number(4, 2), day: number(6, 2),
                                 hour: number(8, 2), minute: number(10, 2), second: number(12, 2))
        } catch {
            throw badTime(what, element)
        }
    }

    private static func badTime(_ what: String, _ element: DERReader.Element) -> CertificateError {
        CertificateError(reason: "\(what) is not a valid UTC time", offset: element.encoding.lowerBound)
    }

    /// A Name (SEQUENCE OF RelativeDistinguishedName) in RFC 4514 order (last RDN first).
    private static func name(_ reader: DERReader) throws(CertificateError) -> (text: String, commonName: String?) {
        var reader = reader
        var rdns: [String] = []
        var commonName: String?
        while !reader.isAtEnd {
            var set = reader.contents(of: try reader.read(DERTag.set, "RelativeDistinguishedName SET"))
            var parts: [String] = []
            while !set.isAtEnd {
                var pair = set.contents(of: try set.read(DERTag.sequence, "AttributeTypeAndValue SEQUENCE"))
                let oid = set.slice(try pair.read(DERTag.objectIdentifier, "attribute type").content)
                let valueElement = try pair.readElement()
                let raw = pair.slice(valueElement.content)
                let value: String
                if let text = stringValue(tag: valueElement.tag, raw) {
                    if oid == commonNameOID { commonName = text }
                    value = escaped(text)
                } else {
                    value = "#" + hex(pair.slice(valueElement.encoding))
                }
                parts.append("\(attributeName(oid))=\(value)")
            }
            rdns.append(parts.joined(separator: "+"))
        }
        return (rdns.reversed().joined(separator: ","), commonName)
    }

    private static func stringValue(tag: UInt8, _ bytes: [UInt8]) -> String? {
        switch tag {
        case DERTag.utf8String, DERTag.printableString, DERTag.ia5String:
            return String(decoding: bytes, as: UTF8.self)
        case DERTag.teletexString:
            return latin1(bytes)
        case DERTag.bmpString:
            guard bytes.count % 2 == 0 else { return nil }
            let units = stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
            return String(decoding: units, as: UTF16.self)
        case DERTag.universalString:
            guard bytes.count % 4 == 0 else { return nil }
            var text = ""
            for index in stride(from: 0, to: bytes.count, by: 4) {
                let value = bytes[index..<index + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                text.unicodeScalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            }
            return text
        default:
            return nil
        }
    }

    /// Bytes as ISO 8859-1: every byte is a character, so nothing is dropped or fails.
    private static func latin1(_ bytes: [UInt8]) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// RFC 4514 §2.4 escaping.
    private static func escaped(_ value: String) -> String {
        var result = ""
        let scalars = Array(value.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            let special = ",+\"\\<>;=".unicodeScalars.contains(scalar)
                || (index == 0 && (scalar == "#" || scalar == " "))
                || (index == scalars.count - 1 && scalar == " ")
            if special { result.unicodeScalars.append("\\") }
            if scalar.value < 0x20 {
                result += "\\" + hex([UInt8(scalar.value)])
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static let attributeNames: [[UInt8]: String] = [
        [0x55, 0x04, 0x03]: "CN", [0x55, 0x04, 0x06]: "C", [0x55, 0x04, 0x07]: "L", [0x55, 0x04, 0x08]: "ST",
        [0x55, 0x04, 0x0A]: "O", [0x55, 0x04, 0x0B]: "OU", [0x55, 0x04, 0x05]: "serialNumber",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x19]: "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x01]: "UID",
        [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01]: "emailAddress",
    ]

    private static func attributeName(_ oid: [UInt8]) -> String {
        attributeNames[oid] ?? dottedOID(oid)
    }

    /// `2.5.4.3`; the hex of the bytes when they are not a valid encoding.
    private static func dottedOID(_ bytes: [UInt8]) -> String {
        var arcs: [UInt64] = []
        var value: UInt64 = 0
        for byte in bytes {
            guard value <= UInt64.max >> 7 else { return "#" + hex(bytes) }
            value = value << 7 | UInt64(byte & 0x7F)
            if byte & 0x80 == 0 {
                arcs.append(value)
                value = 0
            }
        }
        guard let first = arcs.first, bytes.last.map({ $0 & 0x80 == 0 }) == true else { return "#" + hex(bytes) }
        let head: [UInt64] = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80]
        return (head + arcs.dropFirst()).map(String.init).joined(separator: ".")
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

extension PeerCertificate {
    /// Reads the certificates of a PEM file (a CA bundle such as `tls.caFile`).
    /// - Throws: ``CertificateFileError`` when the file cannot be read or holds a
    ///   malformed certificate.
    public static func certificates(pemFile path: String) throws(CertificateFileError) -> [PeerCertificate] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw CertificateFileError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CertificateFileError(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            contents.append(contentsOf: buffer[..<count])
            guard contents.count <= 16 << 20 else { throw CertificateFileError(path: path, reason: "larger than 16 MiB") }
        }
        do {
            return try certificates(pem: String(decoding: contents, as: UTF8.self))
        } catch {
            throw CertificateFileError(path: path, reason: error.description)
        }
    }
}

/// A PEM file that could not be read.
public struct CertificateFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot read \(path): \(reason)" }
}

/// Standard base64 (RFC 4648 §4) with padding, as in PEM bodies.
enum Base64 {
    static func decode<C: Collection<UInt8>>(_ text: C) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for byte in text {
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="):
                padding += 1
                continue
            default: return nil
            }
            guard padding == 0 else { return nil }  // data after padding
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        guard padding <= 2, (text.count - padding) % 4 != 1 else { return nil }
        return output
    }
}

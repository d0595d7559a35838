internal import CLibPQ
#if canImport(Glibc)
internal import Glibc
#endif

/// A thin, synchronous wrapper of one libpq connection: the only code that touches
/// libpq. Every call's status is checked; errors name the operation and carry the
/// server's primary message and SQLSTATE, never a parameter value and never the
/// DETAIL line (which, for a unique violation, quotes the row's values).
///
/// Not thread-safe: one owner uses it from one thread.
final class PostgresConnection {
    private let handle: OpaquePointer

    /// A parameter of a statement: text (sent in text format, with an unspecified type
    /// so that the server takes the type of the column it is assigned to), bytes sent in
    /// binary format as `bytea`, a binary `text[]` array, or NULL.
    enum Parameter {
        case null
        case text(String)
        case bytea([UInt8])
        case textArray([String])
    }

    /// Connects with keyword/value parameters (`PQconnectdbParams`), so that the
    /// password is never part of a connection string that could be printed.
    ///
    /// - Parameters:
    ///   - url: a `postgres://` URL (expanded by libpq: `expand_dbname`); later
    ///     parameters override what it says. A server that does not answer fails the
    ///     connection after 10 s unless the URL sets `connect_timeout=`.
    ///   - parameters: further keywords (`password`, `sslmode`, `sslrootcert`, …).
    ///   - lockTimeout: how long a statement waits for a lock the application holds
    ///     (`lock_timeout`) before it fails, as the SQLite store's busy timeout.
    init(url: String, parameters: [(String, [UInt8])], lockTimeout: Duration = .seconds(10)) throws {
        let milliseconds = max(1, lockTimeout.components.seconds * 1_000 + lockTimeout.components.attoseconds / 1_000_000_000_000_000)
        // Before the URL, so that its own connect_timeout= wins; after it, what must hold.
        let all: [(String, [UInt8])] = [("connect_timeout", Array("10".utf8)), ("dbname", Array(url.utf8))] + parameters + [
            ("application_name", Array("ldapsync".utf8)),
            ("client_encoding", Array("UTF8".utf8)),
            // Timestamps in one form whatever the server's defaults; hex bytea output.
            ("options", Array("-c DateStyle=ISO,YMD -c TimeZone=UTC -c bytea_output=hex -c lock_timeout=\(milliseconds)".utf8)),
        ]
        // Each value is copied into memory of our own, cleared before it is freed.
        var keywordPointers: [UnsafeMutablePointer<CChar>?] = []
        var valuePointers: [UnsafeMutablePointer<CChar>?] = []
        var sizes: [Int] = []
        defer {
            for (pointer, size) in zip(valuePointers, sizes) {
                pointer?.update(repeating: 0, count: size)
                pointer?.deallocate()
            }
            for pointer in keywordPointers { free(pointer) }
        }
        for (keyword, value) in all {
            keywordPointers.append(strdup(keyword))
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: value.count + 1)
            value.withUnsafeBufferPointer { bytes in
                for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
            }
            buffer[value.count] = 0
            valuePointers.append(buffer)
            sizes.append(value.count + 1)
        }
        keywordPointers.append(nil)
        valuePointers.append(nil)
        let connection = keywordPointers.withUnsafeBufferPointer { keywords in
            valuePointers.withUnsafeBufferPointer { values in
                keywords.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: keywords.count) { k in
                    values.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: values.count) { v in
                        PQconnectdbParams(k, v, 1)
                    }
                }
            }
        }
        guard let connection else {
            throw AppStoreError(operation: "connect to PostgreSQL", message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.clean(String(cString: PQerrorMessage(connection)))
            PQfinish(connection)
            throw AppStoreError(operation: "connect to PostgreSQL", message: message)
        }
        handle = connection
    }

    deinit {
        PQfinish(handle)
    }

    /// The server's version number (`150018` for 15.18).
    var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// Whether a transaction is open (or failed and waiting for ROLLBACK).
    var inTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    // MARK: Statements

    /// Runs a statement without parameters (several may be separated by `;`).
    func execute(_ sql: String, operation: String) throws {
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, operation: operation)
    }

    /// Runs one statement with parameters and returns its rows, all in text format.
    @discardableResult
    func query(_ sql: String, _ parameters: [Parameter] = [], operation: String) throws -> PostgresResult {
        let result = try withParameters(parameters) { count, types, values, lengths, formats in
            PQexecParams(handle, sql, count, types, values, lengths, formats, 0)
        }
        do {
            try check(result, operation: operation)
        } catch {
            PQclear(result)
            throw error
        }
        return PostgresResult(result!)
    }

    /// Runs `sql`, a `COPY … FROM STDIN`, with `rows` as its input in COPY's text format
    /// (``copyText(_:to:)``): one round trip for any number of rows, and no statement for
    /// the server to parse per row.
    func copy(_ sql: String, rows: [UInt8], operation: String) throws {
        guard let started = PQexec(handle, sql) else {
            throw AppStoreError(operation: operation, message: Self.clean(String(cString: PQerrorMessage(handle))))
        }
        guard PQresultStatus(started) == PGRES_COPY_IN else {
            defer { PQclear(started) }
            try check(started, operation: operation)
            throw AppStoreError(operation: operation, message: "the server did not start the COPY")
        }
        PQclear(started)
        let sent = rows.withUnsafeBytes { bytes in
            PQputCopyData(handle, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
        // Ended either way; a message makes the server fail (and abort) the COPY.
        let ended = sent == 1 ? PQputCopyEnd(handle, nil) : PQputCopyEnd(handle, "the rows could not be sent")
        var failure: (any Error)?
        if sent != 1 || ended != 1 {
            failure = AppStoreError(operation: operation, message: Self.clean(String(cString: PQerrorMessage(handle))))
        }
        while let result = PQgetResult(handle) {
            defer { PQclear(result) }
            if failure == nil, PQresultStatus(result) != PGRES_COMMAND_OK {
                failure = PostgresServerError(result: result, connection: handle, operation: operation)
            }
        }
        if let failure { throw failure }
    }

    /// Appends `parameter` as one field of COPY's text format: `\N` for NULL, text with
    /// backslash, tab, newline and carriage return escaped, bytea in its hex form (never
    /// an array).
    static func copyText(_ parameter: Parameter, to output: inout [UInt8]) {
        func escaped(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\t"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case UInt8(ascii: "\n"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                default: output.append(byte)
                }
            }
        }
        switch parameter {
        case .null:
            output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
        case .text(let text):
            escaped(text.utf8)
        case .bytea(let bytes):
            // bytea's input `\x0102`, its backslash escaped for COPY.
            let hex = Array("0123456789abcdef".utf8)
            output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\"), UInt8(ascii: "x")])
            for byte in bytes {
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            }
        case .textArray:
            // The rows COPY writes (creates, memberships) hold text, NULL and bytea only.
            preconditionFailure("COPY rows hold no arrays")
        }
    }

    /// The SQL string literal of `text`, for the few statements (DDL) that take none as
    /// a parameter.
    func literal(_ text: String) throws -> String {
        guard let escaped = PQescapeLiteral(handle, text, text.utf8.count) else {
            throw AppStoreError(operation: "quote a literal", message: Self.clean(String(cString: PQerrorMessage(handle))))
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    // MARK: Internals

    /// Calls `body` with libpq's parameter arrays; the memory lives during the call only.
    private func withParameters(
        _ parameters: [Parameter],
        _ body: (Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?)
            -> OpaquePointer?
    ) throws -> OpaquePointer? {
        var types: [Oid] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        var buffers: [UnsafeMutableRawPointer?] = []
        types.reserveCapacity(parameters.count)
        lengths.reserveCapacity(parameters.count)
        formats.reserveCapacity(parameters.count)
        buffers.reserveCapacity(parameters.count)
        defer { for buffer in buffers { buffer?.deallocate() } }

        func copy(_ bytes: some Collection<UInt8>, terminated: Bool) -> UnsafeMutableRawPointer {
            let count = bytes.count
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: count + (terminated ? 1 : 0), alignment: 1)
            let copied = bytes.withContiguousStorageIfAvailable { source -> Bool in
                if let base = source.baseAddress { buffer.copyMemory(from: base, byteCount: count) }
                return true
            }
            if copied == nil {
                var offset = 0
                for byte in bytes {
                    buffer.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
                    offset += 1
                }
            }
            if terminated { buffer.storeBytes(of: 0, toByteOffset: count, as: UInt8.self) }
            return buffer
        }

        for parameter in parameters {
            switch parameter {
            case .null:
                types.append(0); lengths.append(0); formats.append(0); buffers.append(nil)
            case .text(var text):
                // Text format is NUL-terminated: a NUL inside would cut the value short.
                text.makeContiguousUTF8()
                guard !text.containsNUL else { throw PostgresValueError.nulCharacter }
                types.append(0); lengths.append(0); formats.append(0)
                buffers.append(copy(text.utf8, terminated: true))
            case .bytea(let bytes):
                types.append(Self.byteaOID); lengths.append(Int32(bytes.count)); formats.append(1)
                buffers.append(copy(bytes, terminated: false))
            case .textArray(let elements):
                let encoded = try Self.binaryTextArray(elements)
                types.append(Self.textArrayOID); lengths.append(Int32(encoded.count)); formats.append(1)
                buffers.append(copy(encoded, terminated: false))
            }
        }
        return types.withUnsafeBufferPointer { types in
            lengths.withUnsafeBufferPointer { lengths in
                formats.withUnsafeBufferPointer { formats in
                    buffers.withUnsafeBufferPointer { buffers in
                        buffers.baseAddress.map { base in
                            base.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffers.count) { values in
                                body(Int32(parameters.count), types.baseAddress, values, lengths.baseAddress, formats.baseAddress)
                            }
                        } ?? body(0, nil, nil, nil, nil)
                    }
                }
            }
        }
    }

    /// PostgreSQL's binary array format: dimensions, flags, element type, then each
    /// element as a length and its bytes (big-endian integers).
    static func binaryTextArray(_ elements: [String]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20 + elements.reduce(0) { $0 + 4 + $1.utf8.count })
        func append(_ value: Int32) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        append(1)  // dimensions
        append(0)  // no NULL element
        append(Int32(bitPattern: textOID))
        append(Int32(elements.count))
        append(1)  // lower bound
        for element in elements {
            guard !element.containsNUL else { throw PostgresValueError.nulCharacter }
            append(Int32(element.utf8.count))
            bytes.append(contentsOf: element.utf8)
        }
        return bytes
    }

    private func check(_ result: OpaquePointer?, operation: String) throws {
        guard let result else {
            throw AppStoreError(operation: operation, message: Self.clean(String(cString: PQerrorMessage(handle))))
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return
        default:
            throw PostgresServerError(result: result, connection: handle, operation: operation)
        }
    }

    /// libpq's messages end with a newline and may have several lines.
    static func clean(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).map { $0.trimmingSpaces() }.joined(separator: " ")
    }

    static let textOID: Oid = 25
    static let byteaOID: Oid = 17
    static let textArrayOID: Oid = 1009
    static let int2OID: Oid = 21
    static let int4OID: Oid = 23
    static let int8OID: Oid = 20
    static let boolOID: Oid = 16
    static let jsonOID: Oid = 114
    static let jsonbOID: Oid = 3802
    static let timestampOID: Oid = 1114
    static let timestampTZOID: Oid = 1184
}

/// A value that PostgreSQL cannot hold as given.
enum PostgresValueError: Error {
    /// PostgreSQL's text types cannot hold the character U+0000.
    case nulCharacter
}

/// A statement the server refused: its SQLSTATE and primary message.
struct PostgresServerError: Error, CustomStringConvertible {
    var operation: String
    /// The five-character SQLSTATE (`23505`), or empty when libpq gave none.
    var sqlState: String
    var message: String

    init(result: OpaquePointer, connection: OpaquePointer, operation: String) {
        self.operation = operation
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
        sqlState = state
        var text = primary ?? PostgresConnection.clean(String(cString: PQresultErrorMessage(result)))
        if text.isEmpty { text = PostgresConnection.clean(String(cString: PQerrorMessage(connection))) }
        // Data exceptions (class 22) quote the offending input after a colon, as in
        // `invalid input syntax for type integer: "abc"`: keep what precedes it.
        if state.hasPrefix("22"), let colon = text.range(of: ": ") {
            text = String(text[..<colon.lowerBound])
        }
        message = text
    }

    var description: String {
        sqlState.isEmpty ? message : "\(message) (SQLSTATE \(sqlState))"
    }
}

/// The rows of one statement, in text format. Owns the libpq result.
final class PostgresResult {
    private let result: OpaquePointer

    init(_ result: OpaquePointer) { self.result = result }
    deinit { PQclear(result) }

    var rowCount: Int { Int(PQntuples(result)) }
    var columnCount: Int { Int(PQnfields(result)) }

    /// The number of rows an INSERT, UPDATE or DELETE touched.
    var affectedRows: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    /// The type of a column (its OID).
    func type(ofColumn column: Int) -> UInt32 { UInt32(PQftype(result, Int32(column))) }

    func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(result, Int32(row), Int32(column)) != 0 }

    /// A value in text format, or nil for NULL.
    func text(_ row: Int, _ column: Int) -> String? {
        guard !isNull(row, column) else { return nil }
        return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    /// The raw bytes of a value in text format, or nil for NULL.
    func bytes(_ row: Int, _ column: Int) -> UnsafeRawBufferPointer? {
        guard !isNull(row, column), let value = PQgetvalue(result, Int32(row), Int32(column)) else { return nil }
        return UnsafeRawBufferPointer(start: value, count: Int(PQgetlength(result, Int32(row), Int32(column))))
    }
}

extension String {
    /// Whether the text holds U+0000, which PostgreSQL text cannot (memchr over the
    /// UTF-8 bytes: this runs for every value written).
    var containsNUL: Bool {
        let found = utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return false }
            return memchr(base, 0, bytes.count) != nil
        }
        return found ?? utf8.contains(0)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}

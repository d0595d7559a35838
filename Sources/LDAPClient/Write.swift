internal import CLDAP
import DirectoryModel

/// One change to one attribute (RFC 4511 §4.6): value deltas for multi-valued
/// attributes, `replace` for single-valued ones.
public struct Modification: Hashable, Sendable {
    public enum Kind: Sendable, Hashable {
        /// Add these values (the attribute is created if absent).
        case add
        /// Delete these values; with no values, delete the whole attribute.
        case delete
        /// Replace all values with these; with no values, delete the attribute.
        case replace
    }

    public var kind: Kind
    public var attribute: AttributeName
    public var values: [[UInt8]]

    public init(_ kind: Kind, _ attribute: AttributeName, values: [[UInt8]]) {
        self.kind = kind
        self.attribute = attribute
        self.values = values
    }

    public init(_ kind: Kind, _ attribute: AttributeName, strings: [String]) {
        self.init(kind, attribute, values: strings.map { Array($0.utf8) })
    }

    var operation: Int32 {
        switch kind {
        case .add: LDAP_MOD_ADD
        case .delete: LDAP_MOD_DELETE
        case .replace: LDAP_MOD_REPLACE
        }
    }
}

/// A write request.
public enum WriteOperation: Sendable, Hashable {
    case add(dn: String, attributes: [Attribute])
    case delete(dn: String)
    case modify(dn: String, modifications: [Modification])
    /// modrdn / modDN: a new RDN (`uid=new`), optionally under a new superior.
    case rename(dn: String, newRDN: String, newSuperior: String? = nil, deleteOldRDN: Bool = true)

    /// The entry the operation is about.
    public var dn: String {
        switch self {
        case .add(let dn, _), .delete(let dn), .modify(let dn, _), .rename(let dn, _, _, _): dn
        }
    }

    /// `add`, `delete`, `modify` or `rename`, as used in errors.
    public var name: String {
        switch self {
        case .add: "add"
        case .delete: "delete"
        case .modify: "modify"
        case .rename: "rename"
        }
    }
}

/// A message id of an operation in flight.
public struct MessageID: Hashable, Sendable {
    public let rawValue: Int32
}

extension LDAPConnection {
    /// Performs one write and waits for its result.
    public func perform(_ operation: WriteOperation) throws(LDAPError) {
        let messageID = try send(operation)
        let (_, result) = try nextWriteResult(for: messageID)
        try result.mapError { attributed($0, to: operation) }.get()
    }

    /// Sends a write without waiting; collect its result with ``nextWriteResult(for:)``.
    public func send(_ operation: WriteOperation) throws(LDAPError) -> MessageID {
        let arena = CArena()
        var messageID: Int32 = 0
        clearHandleDiagnostics()
        let rc: Int32
        switch operation {
        case .add(let dn, let attributes):
            let mods = makeMods(attributes.map { Modification(.add, $0.name, values: $0.values) }, arena: arena)
            rc = ldap_add_ext(handle, dn, mods, nil, nil, &messageID)
        case .delete(let dn):
            rc = ldap_delete_ext(handle, dn, nil, nil, &messageID)
        case .modify(let dn, let modifications):
            let mods = makeMods(modifications, arena: arena)
            rc = ldap_modify_ext(handle, dn, mods, nil, nil, &messageID)
        case .rename(let dn, let newRDN, let newSuperior, let deleteOldRDN):
            rc = ldap_rename(handle, dn, newRDN, newSuperior, deleteOldRDN ? 1 : 0, nil, nil, &messageID)
        }
        try checkSynchronous(rc, operation: operation.name, dn: operation.dn)
        return MessageID(rawValue: messageID)
    }

    /// Waits for the result of one write sent with ``send(_:)``, or of any outstanding one
    /// when `messageID` is nil. The outer error is about the connection (lost, timed
    /// out); the inner result is the operation's own outcome.
    public func nextWriteResult(for messageID: MessageID? = nil) throws(LDAPError) -> (MessageID, Result<Void, LDAPError>) {
        let message = try nextMessage(messageID?.rawValue ?? LDAP_RES_ANY, operation: "result", dn: nil)
        defer { ldap_msgfree(message) }
        let id = MessageID(rawValue: ldap_msgid(message))
        let result = try parseResult(message, controls: nil, operation: "result", dn: nil)
        guard result.code == .success else {
            return (id, .failure(LDAPError(operation: "write", code: result.code,
                                           diagnostic: result.diagnostic, matchedDN: result.matchedDN)))
        }
        return (id, .success(()))
    }

    /// Performs many writes with up to `window` of them in flight at once (pipelining),
    /// calling `completion` exactly once per operation with its index and outcome.
    ///
    /// Independent writes only: the server may apply operations in flight in any order.
    /// When the connection is lost, every operation without an answer completes with that
    /// error (it may or may not have been applied; writes must be idempotent to retry).
    public func pipeline(_ operations: [WriteOperation], window: Int = 64,
                         _ completion: (Int, Result<Void, LDAPError>) -> Void) {
        var inFlight: [Int32: Int] = [:]
        var next = 0
        var connectionError: LDAPError?
        while connectionError == nil, next < operations.count || !inFlight.isEmpty {
            while next < operations.count, inFlight.count < max(window, 1) {
                let operation = operations[next]
                do {
                    let id = try send(operation)
                    inFlight[id.rawValue] = next
                } catch {
                    if error.code.meansConnectionLost || !isAlive {
                        connectionError = error
                        break
                    }
                    completion(next, .failure(error))
                }
                next += 1
            }
            guard connectionError == nil, !inFlight.isEmpty else { continue }
            do {
                let (id, result) = try nextWriteResult()
                guard let index = inFlight.removeValue(forKey: id.rawValue) else { continue }
                completion(index, result.mapError { attributed($0, to: operations[index]) })
            } catch {
                connectionError = error
            }
        }
        guard let connectionError else { return }
        // Answers that may still arrive for these are of no use any more.
        for id in inFlight.keys { ldap_abandon_ext(handle, id, nil, nil) }
        for index in inFlight.values.sorted() { completion(index, .failure(attributed(connectionError, to: operations[index]))) }
        for index in next..<operations.count { completion(index, .failure(attributed(connectionError, to: operations[index]))) }
    }

    func attributed(_ error: LDAPError, to operation: WriteOperation) -> LDAPError {
        var error = error
        error.operation = operation.name
        error.dn = operation.dn
        return error
    }

    /// A NULL-terminated `LDAPMod *` array in `arena` (binary values: `LDAP_MOD_BVALUES`).
    private func makeMods(_ modifications: [Modification], arena: CArena) -> UnsafeMutablePointer<UnsafeMutablePointer<LDAPMod>?> {
        let mods = arena.allocate(UnsafeMutablePointer<LDAPMod>?.self, count: modifications.count + 1)
        for (index, modification) in modifications.enumerated() {
            let mod = arena.allocate(LDAPMod.self, count: 1)
            mod.pointee.mod_op = modification.operation | LDAP_MOD_BVALUES
            mod.pointee.mod_type = arena.cString(modification.attribute.description)
            if !modification.values.isEmpty {
                let values = arena.allocate(UnsafeMutablePointer<berval>?.self, count: modification.values.count + 1)
                for (position, value) in modification.values.enumerated() {
                    let berValue = arena.allocate(berval.self, count: 1)
                    berValue.pointee = berval(bv_len: ber_len_t(value.count), bv_val: arena.bytes(value))
                    values[position] = berValue
                }
                values[modification.values.count] = nil
                mod.pointee.mod_vals.modv_bvals = values
            }
            mods[index] = mod
        }
        mods[modifications.count] = nil
        return mods
    }
}

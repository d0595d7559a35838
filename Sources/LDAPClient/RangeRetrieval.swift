import DirectoryModel

/// The rest of a ranged attribute, read by ``LDAPConnection/readRemainingValues(dn:attribute:from:rangeSize:)``.
public struct RangedValues: Sendable {
    /// The values from the requested start to the last one, in the server's order.
    public var values: [[UInt8]] = []
    /// The range searches sent (one per range the server answered).
    public var requests = 0
}

extension LDAPConnection {
    /// Reads the values of a ranged attribute (AD range retrieval) from index `low` to the
    /// last one: one base-scope search per range, `member;range=1500-*` (or, with
    /// `rangeSize`, `member;range=1500-2499`, `member;range=2500-3499`, ...) until the
    /// server answers with a range ending in `*`.
    ///
    /// Each next range starts after the last value the server actually returned, so a
    /// server that returns fewer values than asked (Windows caps a range at
    /// `MaxValRange`) loses none. A server that answers with a range other than the one
    /// asked for, or one that does not move forward, throws: the caller must not take a
    /// partial list for the whole (SPEC I5). An entry that has gone throws
    /// `noSuchObject`.
    ///
    /// - Parameters:
    ///   - dn: the entry.
    ///   - attribute: the attribute type (`member`); options are ignored.
    ///   - low: the index of the first value wanted (the high bound of the range already
    ///     read, plus one).
    ///   - rangeSize: values per request; nil lets the server decide.
    public func readRemainingValues(dn: String, attribute: AttributeName, from low: Int, rangeSize: Int?) throws(LDAPError) -> RangedValues {
        try RangeLoop(dn: dn, type: attribute.type, rangeSize: rangeSize).run(from: low) { (name) throws(LDAPError) in
            var answer = RangeAnswer()
            do {
                try search(SearchRequest(base: dn, scope: .base, filter: "(objectClass=*)", attributes: [name.description], pageSize: nil)) { entry in
                    answer.found = true
                    for index in 0..<entry.attributeCount {
                        let returned = entry.name(at: index)
                        guard returned.type == name.type else { continue }
                        if let range = returned.range {
                            answer.range = range
                            answer.values += entry.values(at: index)
                        } else if entry.valueCount(at: index) > 0 {
                            answer.plainValues = entry.values(at: index)
                        }
                    }
                }
            } catch let error as LDAPError {
                throw error
            } catch {
                throw LDAPError(operation: "search", dn: dn, code: .other, diagnostic: "\(error)")
            }
            return answer
        }
    }
}

/// What the server answered to one range request.
struct RangeAnswer {
    /// Whether the entry was returned at all.
    var found = false
    /// The range the server named (`member;range=1000-*`), nil when it sent none.
    var range: ValueRange?
    /// The values of that range.
    var values: [[UInt8]] = []
    /// Values sent under the plain attribute name: a server that ignores range options.
    var plainValues: [[UInt8]]?
}

/// The range retrieval loop, apart from the network so that its checks can be tested
/// with any answers a server might give.
struct RangeLoop {
    var dn: String
    var type: AttributeName
    var rangeSize: Int?

    func run(from low: Int, fetch: (AttributeName) throws(LDAPError) -> RangeAnswer) throws(LDAPError) -> RangedValues {
        var result = RangedValues()
        var next = low
        while true {
            let name = type.withRange(ValueRange(low: next, size: rangeSize))
            result.requests += 1
            let answer = try fetch(name)
            guard answer.found else {
                throw LDAPError(operation: "search", dn: dn, code: .noSuchObject,
                                diagnostic: "the entry was not returned while reading \(name) (range retrieval)")
            }
            guard let answered = answer.range else {
                // The server ignored the range option and sent every value: keep those
                // not read yet. With neither, no value is left from `next` on (the
                // attribute shrank while it was read).
                result.values += (answer.plainValues ?? []).dropFirst(next)
                return result
            }
            guard answered.low == next else {
                throw LDAPError(operation: "search", dn: dn, code: .decodingError,
                                diagnostic: "asked for \(name), the server answered \(type.withRange(answered)): the value list would be incomplete")
            }
            result.values += answer.values
            guard let high = answered.high else { return result }
            guard answer.values.count == high - next + 1 else {
                throw LDAPError(operation: "search", dn: dn, code: .decodingError,
                                diagnostic: "asked for \(name), the server answered \(type.withRange(answered)) with \(answer.values.count) values: the value list would be incomplete")
            }
            next = high + 1
        }
    }
}

import Foundation

/// Deterministic LDIF for test directories: the same arguments always give the same
/// text, so tests can name the entries they expect.
///
/// The entries carry no operational attributes: `slapadd` computes `entryUUID`,
/// `entryCSN`, `createTimestamp` and `modifyTimestamp` itself, also with `-q`.
public enum Fixtures {
    /// `count` `inetOrgPerson` entries numbered `startIndex + 1 … startIndex + count`:
    /// `uid=user000001,<base>` and so on (six digits, more past 999,999).
    ///
    /// Each has `cn`, `sn`, `givenName`, `mail` (every third person has a second
    /// address), `telephoneNumber`, `employeeNumber` (the number itself) and
    /// `description`. Some given names are not ASCII (`Zoë`, `José`, `Łukasz`), so their
    /// `givenName` and `cn` appear base64-encoded in the LDIF and test UTF-8 handling.
    public static func people(count: Int, base: String = "ou=people,dc=example,dc=com", startIndex: Int = 0) -> String {
        precondition(count >= 0 && startIndex >= 0, "count and startIndex must not be negative")
        var ldif = ""
        ldif.reserveCapacity(count * 420)
        for number in (startIndex + 1)..<(startIndex + 1 + count) {
            let uid = personUID(number)
            let given = givenNames[number % givenNames.count]
            let surname = surnames[(number / givenNames.count) % surnames.count]
            let digits = padded(number, width: 6)
            ldif += "dn: uid=\(uid),\(base)\n"
            ldif += "objectClass: inetOrgPerson\n"
            ldif += "uid: \(uid)\n"
            ldif += LDIF.line("cn", "\(given) \(surname)")
            ldif += LDIF.line("sn", surname)
            ldif += LDIF.line("givenName", given)
            ldif += "mail: \(uid)@example.com\n"
            if number % 3 == 0 {
                ldif += "mail: \(uid).alias@mail.example.com\n"
            }
            ldif += "telephoneNumber: +1 555 \(padded(number % 10_000_000, width: 7))\n"
            ldif += "employeeNumber: \(number)\n"
            ldif += "description: Fixture person \(digits)\n\n"
        }
        return ldif
    }

    /// `count` `groupOfNames` entries `cn=group0001,<base>` … (numbered from
    /// `startIndex + 1`), each with `membersPerGroup` distinct `member` DNs of people
    /// from `people(count: peopleCount, base: peopleBase)`.
    ///
    /// Group *g* (1-based) holds people `(g-1)·m + 1 …` wrapping around `peopleCount`,
    /// so consecutive groups overlap only when `count · m > peopleCount`.
    /// `groupOfNames` requires a member, so `membersPerGroup` is clamped to
    /// `1 … peopleCount`.
    public static func groups(
        count: Int,
        membersPerGroup: Int,
        peopleCount: Int,
        base: String = "ou=groups,dc=example,dc=com",
        peopleBase: String = "ou=people,dc=example,dc=com",
        startIndex: Int = 0
    ) -> String {
        precondition(count >= 0 && startIndex >= 0, "count and startIndex must not be negative")
        precondition(peopleCount > 0, "groupOfNames needs at least one member, so peopleCount must be positive")
        let members = min(max(membersPerGroup, 1), peopleCount)
        var ldif = ""
        ldif.reserveCapacity(count * (120 + members * 45))
        for number in (startIndex + 1)..<(startIndex + 1 + count) {
            let cn = groupCN(number)
            ldif += "dn: cn=\(cn),\(base)\n"
            ldif += "objectClass: groupOfNames\n"
            ldif += "cn: \(cn)\n"
            ldif += "description: Fixture group \(padded(number, width: 4))\n"
            for k in 0..<members {
                let person = ((number - 1) * members + k) % peopleCount + 1
                ldif += "member: uid=\(personUID(person)),\(peopleBase)\n"
            }
            ldif += "\n"
        }
        return ldif
    }

    /// The `uid` of person `number` in `people(count:)`: `user000001` for 1.
    public static func personUID(_ number: Int) -> String {
        "user" + padded(number, width: 6)
    }

    /// The `cn` of group `number` in `groups(count:…)`: `group0001` for 1.
    public static func groupCN(_ number: Int) -> String {
        "group" + padded(number, width: 4)
    }

    /// A schema entry for `Configuration.extraSchema`: the attribute `trainingRecord`
    /// (OID 1.3.6.1.4.1.99999.1.1, directoryString, case-ignore matching) and the
    /// auxiliary object class `trainingPerson` (1.3.6.1.4.1.99999.2.1) that MAY hold it.
    /// The OIDs sit under a private-enterprise number reserved for examples in this project.
    public static let trainingRecordSchema = """
        dn: cn=training,cn=schema,cn=config
        objectClass: olcSchemaConfig
        cn: training
        olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1 NAME 'trainingRecord' DESC 'A completed training, as the app records it' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
        olcObjectClasses: ( 1.3.6.1.4.1.99999.2.1 NAME 'trainingPerson' DESC 'A person with training records' SUP top AUXILIARY MAY trainingRecord )
        """

    private static let givenNames = [
        "Ada", "Bruno", "Chloé", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "José",
        "Kwame", "Lena", "Łukasz", "Mei", "Noor", "Olav", "Priya", "Quentin", "Rosa", "Zoë",
    ]

    private static let surnames = [
        "Abbott", "Baker", "Castro", "Dubois", "Eriksen", "Fischer", "García", "Haddad",
        "Ivanova", "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "O'Brien", "Petrov",
        "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Vargas", "Weber", "Xu", "Yilmaz", "Zhang",
    ]

    /// `value` in decimal, zero-padded to `width` digits (wider values are not cut).
    private static func padded(_ value: Int, width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

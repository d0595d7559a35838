import DirectoryModel
import Foundation
import SyncEngine
@testable import SyncRunner
import Testing

/// The audit lines of app changes written as bytes (`AppChangeLines`) are the lines of
/// the records they stand for (`AuditRecord.appChange` through `AuditJSON.appendLine`),
/// byte for byte.
@Suite struct AppChangeLinesTests {
    static let attributes = [
        MappedAttribute(ldap: AttributeName("cn"), column: "name"),
        MappedAttribute(ldap: AttributeName("mail"), column: "email", kind: .multiText),
        MappedAttribute(ldap: AttributeName("telephoneNumber"), column: "phone"),
        MappedAttribute(ldap: AttributeName("employeeNumber"), column: "employee_no", sensitive: true),
        MappedAttribute(ldap: AttributeName("description"), column: "password_hint"),
        MappedAttribute(ldap: AttributeName("jpegPhoto"), column: "photo", kind: .binary),
        MappedAttribute(ldap: AttributeName("title"), column: "Title_é"),
    ]

    static let texts = [
        "", "alice", "Zoë Ådahl", "a \"quoted\" name", "back\\slash", "tab\there", "line\nbreak", "\u{7F}del",
        "c1 \u{85} control", "sep \u{2028} \u{2029}", "emoji 👩‍💻", "nul \u{0} byte", "\u{301}combining", "ﬁ ligature",
        #"["a@example.org","b@example.org"]"#, "\r\u{8}\u{C}",
    ]

    static var changes: [AppChange] {
        var changes: [AppChange] = []
        for (index, text) in texts.enumerated() {
            let values: [String: AppValue] = [
                "name": .text(text), "email": .text(text), "phone": index % 3 == 0 ? .null : .text(text),
                "employee_no": index % 2 == 0 ? .text(text) : .null, "password_hint": .text(text),
                "photo": index % 2 == 0 ? .blob(Array(text.utf8)) : .null, "Title_é": .integer(Int64(index) - 5),
            ]
            changes.append(.create(AppUser(key: text, managed: true, values: values)))
            changes.append(.update(key: text, values: ["phone": .text(text), "employee_no": .null]))
            changes.append(.update(key: text, values: [:]))
            changes.append(.addMembership(user: text, group: texts[(index + 1) % texts.count]))
            changes.append(.removeMembership(user: texts[(index + 2) % texts.count], group: text))
            changes.append(.rename(from: text, to: texts[(index + 3) % texts.count]))
            changes.append(.setManaged(key: text, index % 2 == 0))
            changes.append(.setActive(key: text, index % 2 == 1))
        }
        // A value in no mapped column: not taken, left to the record.
        changes.append(.update(key: "bob", values: ["unmapped": .text("x")]))
        return changes
    }

    /// As `DirectoryRun.auditAppChanges` describes the values of a change.
    static func recordAttributes(_ values: [String: AppValue]) -> [AuditAttribute] {
        let kinds = Dictionary(attributes.map { ($0.column, $0) }, uniquingKeysWith: { first, _ in first })
        let sensitive = Set(attributes.filter(\.sensitive).map(\.column))
        return values.sorted { $0.key < $1.key }.map { column, value in
            let text = kinds[column].map { ValueMapping.display(value, for: $0) } ?? "\(value)"
            return AuditAttribute(name: column, new: [text], sensitive: sensitive.contains(column))
        }
    }

    static func lines(outcome: AuditRecord.Outcome) -> AppChangeLines {
        AppChangeLines(runID: "0123456789abcdef", directory: "corp \"main\"", outcome: outcome, columns: attributes.map { attribute in
            AppChangeLines.Column(
                name: attribute.column,
                redacted: AuditAttribute(name: attribute.column, sensitive: attribute.sensitive).isRedacted,
                showsTextAsIs: attribute.kind == .multiText,
                display: { ValueMapping.display($0, for: attribute) }
            )
        })
    }

    @Test(arguments: [AuditRecord.Outcome.success, .failure, .skipped])
    func linesAreTheRecordsLinesByteForByte(outcome: AuditRecord.Outcome) throws {
        let time = Timestamp(seconds: 1_795_793_400)
        var lines = Self.lines(outcome: outcome)
        lines.setTime(time)
        var taken = 0
        for change in Self.changes {
            var fast: [UInt8] = []
            var expected: [UInt8] = []
            let record = AuditRecord.appChange(change, time: time, runID: "0123456789abcdef", directory: "corp \"main\"",
                                               outcome: outcome, message: nil, attributes: Self.recordAttributes)
            AuditJSON.appendLine(record, to: &expected)
            if lines.append(change, to: &fast) {
                taken += 1
                #expect(String(decoding: fast, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
                #expect(try JSONSerialization.jsonObject(with: Data(fast)) is [String: Any])
            } else {
                #expect(fast.isEmpty)
            }
        }
        // Every change but the one with an unmapped column.
        #expect(taken == Self.changes.count - 1)
    }

    @Test func sensitiveValuesNeverReachTheLines() {
        var lines = Self.lines(outcome: .success)
        lines.setTime(Timestamp(seconds: 0))
        var output: [UInt8] = []
        let values: [String: AppValue] = ["employee_no": .text("S3CR3T-1"), "password_hint": .text("S3CR3T-2"), "name": .text("n")]
        #expect(lines.append(.create(AppUser(key: "k", managed: true, values: values)), to: &output))
        let text = String(decoding: output, as: UTF8.self)
        #expect(!text.contains("S3CR3T"))
        #expect(text.contains(#"{"name":"employee_no","new":["<redacted>"]}"#))
        #expect(text.contains(#"{"name":"password_hint","new":["<redacted>"]}"#))
    }
}

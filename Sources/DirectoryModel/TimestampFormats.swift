// Placeholder: GeneralizedTime, ISO 8601 and pattern parsing/formatting are being written.
extension Timestamp {
    public var iso8601: String { fatalError("not implemented yet") }
}

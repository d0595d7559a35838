/// A value that a transform cannot carry. The description says what was expected and
/// where (the byte offset in the value), never the value itself: values may be sensitive.
public struct TransformError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed and what was expected, e.g. "app value is not a JSON array of objects:
    /// expected ',' or ']'". Never contains the value.
    public var message: String
    /// The UTF-8 byte offset in the value where the problem was found, when there is one.
    public var offset: Int?

    public init(_ message: String, offset: Int? = nil) {
        self.message = message
        self.offset = offset
    }

    public var description: String {
        guard let offset else { return message }
        return "\(message) (at byte \(offset))"
    }
}

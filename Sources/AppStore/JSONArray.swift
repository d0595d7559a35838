/// The app store's view of multi-valued columns: ``JSONStringArray`` with app-store
/// errors.
extension AppValue {
    /// The canonical JSON array text of `values` (see ``JSONStringArray/encode(_:)``).
    public static func encodeJSONArray(_ values: [String]) -> String {
        JSONStringArray.encode(values)
    }

    /// The strings of a JSON array of strings; the error gives the byte offset, never the
    /// content.
    public static func decodeJSONArray(_ text: String) throws -> [String] {
        do {
            return try JSONStringArray.decode(text)
        } catch {
            throw AppStoreError(operation: "decode JSON array", message: error.description)
        }
    }
}

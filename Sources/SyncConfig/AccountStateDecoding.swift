import DirectoryModel
import Yams

extension ConfigurationDecoder {
    /// `users.accountState` keeps the agreed `userAccountControl` in the snapshot under the
    /// attribute's own name, so the attribute cannot also be a mapped attribute (two
    /// different agreed values would share one place).
    func checkAccountState(_ configuration: Configuration, _ top: Section) throws(ConfigurationError) {
        guard let directory = configuration.directories.first(where: { $0.users.accountState != .off }),
              let index = configuration.attributes.firstIndex(where: { $0.ldap == AccountStateMode.attribute }) else { return }
        var position: Position?
        if let entry = top.entry("attributes"), case .sequence(let items) = entry.value, index < items.count {
            position = items[index].position
        }
        throw reader.error(position, "attributes[\(index)].ldap",
            "\(AccountStateMode.attribute) is read by users.accountState of directory \(directory.name) (for the app's active flag); it cannot be mapped to a column as well: remove this mapping or set accountState: off")
    }
}

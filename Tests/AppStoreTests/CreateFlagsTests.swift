import DirectoryModel
import Testing
@testable import AppStore

/// A created user gets the active flag the plan gives it: an AD account created disabled
/// (users.accountState) is inactive from the start.
@Suite struct CreateFlagsTests {
    @Test func aUserCreatedInactiveIsInactive() throws {
        try withStore { store, _ in
            try store.apply([
                .create(AppUser(key: "on", managed: true, active: true, values: ["email": .text("on@example.com")])),
                .create(AppUser(key: "off", managed: true, active: false, values: ["email": .text("off@example.com")])),
            ])
            let users = try store.users(withKeys: ["on", "off"])
            #expect(users["on"]?.active == true)
            #expect(users["off"]?.active == false)
            #expect(users["off"]?.managed == true)
        }
    }
}

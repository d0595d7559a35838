import SambaSupport
import Testing

extension Trait where Self == ConditionTrait {
    /// Skips the test, saying why in the test output, when this machine cannot run a
    /// Samba AD DC (not root, samba not installed, or LDAPSYNC_SKIP_SAMBA set):
    /// `@Suite(.sambaDC) struct ADSomethingTests { … }`. The DC tests themselves are in
    /// LDAPClientTests/SambaSupportTests.swift; each test target needs its own copy of
    /// this trait.
    static var sambaDC: Self {
        .enabled(if: SambaDC.availability() == nil, Comment(rawValue: "needs a Samba AD DC: \(SambaDC.availability() ?? "")"))
    }
}

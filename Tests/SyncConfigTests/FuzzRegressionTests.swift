import Testing
@testable import SyncConfig

/// Inputs found by the FuzzConfig fuzz target (docs/reliability.md, Fuzzing).
@Suite struct FuzzRegressionTests {
    /// FuzzConfig, 2026-11-22: a mapping with a duplicated complex key (`? [a]`) and a
    /// duplicated scalar key gave a different error on each load (Yams orders the
    /// duplicates by hash when keys of both kinds are duplicated). The error is now the same
    /// every time, names both keys, and gives no line rather than a changing one.
    @Test func duplicatedComplexAndScalarKeysGiveTheSameErrorEveryTime() throws {
        let yaml = """
            ? [a]
            : 1
            ? [a]
            : 2
            app: 1
            app: 2

            """
        var descriptions: Set<String> = []
        for _ in 0..<50 {
            let error = try #require(loadError(yaml))
            descriptions.insert(error.description)
            #expect(error.line == nil)
            #expect(error.message == "the key 'app', a mapping or sequence used as a key appears more than once in the same mapping; keep one")
        }
        #expect(descriptions.count == 1)
    }

    /// Only scalar keys duplicated: Yams's mark is certain and is kept (the line of the
    /// first duplicated key in sorted order).
    @Test func duplicatedScalarKeysKeepTheirLine() throws {
        let yaml = """
            version: 1
            state: a
            app: 1
            state: b
            app: 2

            """
        let error = try #require(loadError(yaml))
        #expect(error.message == "the key 'app', 'state' appears more than once in the same mapping; keep one")
        #expect(error.line != nil)
    }
}

import Foundation
import StateStore
import Testing

@Suite struct EnvironmentTests {
    @Test func createsAMissingDirectoryReadableOnlyByItsOwner() throws {
        try withTemporaryDirectory { parent in
            let path = parent + "/state"
            _ = try Environment(path: path)
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o7777 == 0o700)
            #expect(FileManager.default.fileExists(atPath: path + "/data.mdb"))
        }
    }

    @Test func usesAnExistingDirectoryAsItIs() throws {
        try withTemporaryDirectory { path in
            #expect(chmod(path, 0o755) == 0)
            _ = try Environment(path: path)
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o7777 == 0o755)
        }
    }

    @Test func failsWithTheFileSystemErrorWhenTheParentIsMissing() throws {
        try withTemporaryDirectory { parent in
            let path = parent + "/missing/state"
            let error = #expect(throws: LMDBError.self) { try Environment(path: path) }
            #expect(error?.code == .noSuchFile)
            #expect(error?.operation == "mkdir")
            #expect(error?.path == path)
        }
    }

    @Test func aReopenedEnvironmentSeesCommittedData() throws {
        try withTemporaryDirectory { path in
            func writeOnce() throws {
                let env = try Environment(path: path)
                let db = try env.database(named: "snapshots")
                try env.write { txn in try txn.put(bytes("v1"), forKey: bytes("k1"), in: db) }
            }
            try writeOnce()
            let env = try Environment(path: path)
            let db = try env.database(named: "snapshots")
            #expect(try env.read { txn in try txn.get(bytes("k1"), in: db) } == bytes("v1"))
        }
    }

    @Test func aWriteThatThrowsLeavesNothingBehind() throws {
        try withTestStore { env, db in
            try env.write { txn in try txn.put(bytes("kept"), forKey: bytes("a"), in: db) }
            #expect(throws: Boom()) {
                try env.write { txn in
                    try txn.put(bytes("lost"), forKey: bytes("b"), in: db)
                    try txn.put(bytes("overwritten"), forKey: bytes("a"), in: db)
                    throw Boom()
                }
            }
            try env.read { txn throws in
                #expect(try txn.get(bytes("b"), in: db) == nil)
                #expect(try txn.get(bytes("a"), in: db) == bytes("kept"))
                #expect(try txn.count(in: db) == 1)
            }
        }
    }

    @Test func writeAndReadReturnTheirClosuresResults() throws {
        try withTestStore { env, db in
            let written = try env.write { txn in
                try txn.put(bytes("1"), forKey: bytes("one"), in: db)
                return 42
            }
            let read = try env.read { txn in try txn.get(bytes("one"), in: db) }
            #expect(written == 42)
            #expect(read == bytes("1"))
        }
    }

    @Test func aMissingKeyReadsAsNil() throws {
        try withTestStore { env, db in
            try env.read { txn in
                #expect(try txn.get(bytes("absent"), in: db) == nil)
                var called = false
                let result: Void? = try txn.withValue(bytes("absent"), in: db) { _ in called = true }
                #expect(result == nil)
                #expect(!called)
            }
        }
    }

    @Test func withValueLendsTheStoredBytes() throws {
        try withTestStore { env, db in
            let value: [UInt8] = [0, 1, 0xFF, 0, 0x7F]
            try env.write { txn in try txn.put(value, forKey: bytes("k"), in: db) }
            let seen = try env.read { txn in
                try txn.withValue(bytes("k"), in: db) { buffer in (buffer.count, buffer.first, buffer.last) }
            }
            #expect(seen?.0 == 5)
            #expect(seen?.1 == 0)
            #expect(seen?.2 == 0x7F)
        }
    }

    @Test func anEmptyValueIsStoredAndDiffersFromAbsence() throws {
        try withTestStore { env, db in
            try env.write { txn in try txn.put([], forKey: bytes("empty"), in: db) }
            #expect(try env.read { txn in try txn.get(bytes("empty"), in: db) } == [])
        }
    }

    @Test func binaryKeysAndValuesSurviveByteForByte() throws {
        try withTestStore { env, db in
            var random = SeededGenerator(seed: 7)
            var pairs: [[UInt8]: [UInt8]] = [:]
            for length in 1...64 {
                pairs[random.bytes(count: length)] = random.bytes(count: Int.random(in: 0...300, using: &random))
            }
            pairs[[0]] = [0, 0, 0]
            pairs[[0xFF, 0xFF]] = [0xFF]
            try env.write { txn in
                for (key, value) in pairs { try txn.put(value, forKey: key, in: db) }
            }
            try env.read { txn throws in
                for (key, value) in pairs { #expect(try txn.get(key, in: db) == value) }
                #expect(try txn.count(in: db) == pairs.count)
            }
        }
    }

    @Test func deleteReportsWhetherTheKeyExisted() throws {
        try withTestStore { env, db in
            try env.write { txn in
                try txn.put(bytes("v"), forKey: bytes("k"), in: db)
                #expect(try txn.delete(bytes("k"), in: db))
                #expect(try !txn.delete(bytes("k"), in: db))
                #expect(try !txn.delete(bytes("never"), in: db))
            }
            #expect(try env.read { txn in try txn.get(bytes("k"), in: db) } == nil)
        }
    }

    @Test func countFollowsPutsOverwritesAndDeletes() throws {
        try withTestStore { env, db in
            try env.write { txn in
                #expect(try txn.count(in: db) == 0)
                for index in 0..<10 { try txn.put([], forKey: bytes("k\(index)"), in: db) }
                try txn.put(bytes("again"), forKey: bytes("k3"), in: db)
                try txn.delete(bytes("k4"), in: db)
                #expect(try txn.count(in: db) == 9)
            }
            #expect(try env.read { txn in try txn.count(in: db) } == 9)
        }
    }

    @Test func namedDatabasesAreSeparateNamespaces() throws {
        try withTemporaryDirectory { path in
            let env = try Environment(path: path)
            let cursors = try env.database(named: "cursors")
            let snapshots = try env.database(named: "snapshots")
            #expect(try env.database(named: "cursors") == cursors)
            try env.write { txn in
                try txn.put(bytes("c"), forKey: bytes("corp"), in: cursors)
                try txn.put(bytes("s"), forKey: bytes("corp"), in: snapshots)
            }
            try env.read { txn throws in
                #expect(try txn.get(bytes("corp"), in: cursors) == bytes("c"))
                #expect(try txn.get(bytes("corp"), in: snapshots) == bytes("s"))
            }
        }
    }

    /// Several names in one transaction: the handles of each name, in order, also after
    /// the environment is opened again (they were created and committed).
    @Test func databasesOpenedTogetherAreTheNamedOnes() throws {
        try withTemporaryDirectory { path in
            do {
                let env = try Environment(path: path)
                let opened = try env.databases(named: ["cursors", "snapshots"])
                #expect(opened == [try env.database(named: "cursors"), try env.database(named: "snapshots")])
                try env.write { txn in
                    try txn.put(bytes("c"), forKey: bytes("corp"), in: opened[0])
                    try txn.put(bytes("s"), forKey: bytes("corp"), in: opened[1])
                }
            }
            let env = try Environment(path: path)
            let again = try env.databases(named: ["snapshots", "cursors"])
            try env.read { txn throws in
                #expect(try txn.get(bytes("corp"), in: again[0]) == bytes("s"))
                #expect(try txn.get(bytes("corp"), in: again[1]) == bytes("c"))
            }
            let error = #expect(throws: LMDBError.self) {
                try Environment(path: path + "/more", maxDatabases: 2).databases(named: ["a", "b", "c"])
            }
            #expect(error?.code == .databasesFull)
        }
    }

    @Test func openingMoreDatabasesThanConfiguredFails() throws {
        try withTemporaryDirectory { path in
            let env = try Environment(path: path, maxDatabases: 1)
            _ = try env.database(named: "one")
            let error = #expect(throws: LMDBError.self) { try env.database(named: "two") }
            #expect(error?.code == .databasesFull)
            #expect(error?.database == "two")
        }
    }

    @Test func aReadTransactionSeesTheDataAsOfItsBeginning() throws {
        try withTestStore { env, db in
            try env.read { reader in
                try env.write { txn in try txn.put(bytes("new"), forKey: bytes("k"), in: db) }
                #expect(try reader.get(bytes("k"), in: db) == nil)
            }
            #expect(try env.read { txn in try txn.get(bytes("k"), in: db) } == bytes("new"))
        }
    }

    @Test(arguments: [0, 512, 4096])
    func keysOutsideLMDBsSizeLimitsAreRejected(length: Int) throws {
        try withTestStore { env, db in
            let error = #expect(throws: LMDBError.self) {
                try env.write { txn in try txn.put(bytes("v"), forKey: [UInt8](repeating: 1, count: length), in: db) }
            }
            #expect(error?.code == .badValSize)
            #expect(error?.operation == "mdb_put")
        }
    }

    @Test func errorsNameTheOperationDatabasePathAndCode() throws {
        try withTestStore { env, db in
            let error = #expect(throws: LMDBError.self) {
                try env.read { txn in try txn.get([], in: db) }
            }
            #expect(error?.operation == "mdb_get")
            #expect(error?.database == "test")
            #expect(error?.path == env.path)
            #expect(error?.code == .badValSize)
            let text = error?.description ?? ""
            #expect(text.contains("mdb_get"))
            #expect(text.contains("'test'"))
            #expect(text.contains(env.path))
            #expect(text.contains("MDB_BAD_VALSIZE"))
            #expect(error?.message.isEmpty == false)
        }
    }

    @Test func resultCodesNameTheirCConstants() {
        #expect(ResultCode.mapFull.description == "MDB_MAP_FULL")
        #expect(ResultCode.notFound.description == "MDB_NOTFOUND")
        #expect(ResultCode(rawValue: ENOSPC) == .noSpace)
        #expect(ResultCode(rawValue: ENOSPC).description == "ENOSPC")
        #expect(ResultCode(rawValue: EROFS) == .readOnlyFileSystem)
        #expect(ResultCode(rawValue: EACCES) == .permissionDenied)
        #expect(ResultCode(rawValue: -1).description == "code -1")
    }

    @Test func aDirectoryThatIsAFileIsRefusedByLMDB() throws {
        try withTemporaryDirectory { parent in
            let path = parent + "/file"
            #expect(FileManager.default.createFile(atPath: path, contents: Data()))
            let error = #expect(throws: LMDBError.self) { try Environment(path: path) }
            #expect(error?.operation == "mdb_env_open")
            #expect(error?.code == .notADirectory)
        }
    }
}

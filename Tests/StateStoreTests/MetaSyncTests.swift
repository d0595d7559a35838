import Foundation
@testable import StateStore
import Testing

/// ``Environment/withoutMetaSync(_:)``: the state commit's series of commits.
@Suite struct MetaSyncTests {
    @Test func commitsInsideAreKeptAndTheFlushIsBackAfterOnEveryPath() throws {
        try withTemporaryDirectory { path in
            do {
                let env = try Environment(path: path)
                let db = try env.database(named: "snapshots")
                #expect(!env.defersMetaSync)
                try env.withoutMetaSync {
                    #expect(env.defersMetaSync)
                    try env.write { txn in try txn.put(bytes("v1"), forKey: bytes("k1"), in: db) }
                    try env.write { txn in try txn.put(bytes("v2"), forKey: bytes("k2"), in: db) }
                }
                #expect(!env.defersMetaSync)
                #expect(throws: Boom()) {
                    try env.withoutMetaSync {
                        try env.write { txn in try txn.put(bytes("v3"), forKey: bytes("k3"), in: db) }
                        throw Boom()
                    }
                }
                #expect(!env.defersMetaSync)
            }
            let env = try Environment(path: path)
            let db = try env.database(named: "snapshots")
            #expect(try env.read { txn in try [txn.get(bytes("k1"), in: db), txn.get(bytes("k2"), in: db), txn.get(bytes("k3"), in: db)] }
                == [bytes("v1"), bytes("v2"), bytes("v3")])
        }
    }

    @Test func aScratchEnvironmentNeverFlushesItsMetaPage() throws {
        try withTemporaryDirectory { path in
            let env = try Environment(path: path, durable: false)
            #expect(env.defersMetaSync)
            try env.withoutMetaSync { #expect(env.defersMetaSync) }
            #expect(env.defersMetaSync)
        }
    }
}

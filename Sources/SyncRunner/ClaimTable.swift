/// The key claims of a run (``DirectoryRun``): which entry (id digest) holds each app key
/// (key digest), and each decided entry's key. The same answers as two dictionaries
/// `[Digest: Digest]` (key → id, id → key), in about 48 bytes a user instead of about 134
/// (two tables of 2²¹ buckets of 32 bytes at 1,000,000 users): the pairs are kept once,
/// in fixed-size chunks, and each direction is an open-addressing table of 4-byte pair
/// numbers (SPEC §13: bounded memory).
struct ClaimTable {
    private struct Pair {
        var key: Digest
        var id: Digest
    }

    private static let chunkSize = 65_536
    private var chunks: [[Pair]] = []
    private var pairCount = 0
    /// Pair number + 1 by key digest and by id digest (0: empty slot); linear probing.
    private var byKey: [UInt32] = []
    private var byID: [UInt32] = []
    /// Digests in each table (a key claimed again replaces its slot's pair number).
    private var keyCount = 0
    private var idCount = 0
    /// Random per table: the slots of exact (short) digests cannot be chosen from outside.
    private let seed = UInt64.random(in: .min ... .max)

    init() {}

    /// The entry that claimed `key` last, if any.
    func id(claiming key: Digest) -> Digest? {
        find(key, byKey: true).map { pair($0).id }
    }

    /// The key that `id` claimed last, if any.
    func key(claimedBy id: Digest) -> Digest? {
        find(id, byKey: false).map { pair($0).key }
    }

    /// Records that entry `id` holds `key` (as `keyClaims[key] = id; claimedKeys[id] = key`).
    mutating func claim(key: Digest, id: Digest) {
        if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkSize {
            chunks.append([])
            chunks[chunks.count - 1].reserveCapacity(Self.chunkSize)
        }
        chunks[chunks.count - 1].append(Pair(key: key, id: id))
        pairCount += 1
        let number = UInt32(pairCount)
        // Taken out while inserting: the insert reads the pairs through `self`.
        var keys = byKey
        byKey = []
        if (keyCount + 1) * 4 > keys.count * 3 { keys = rebuilt(byKey: true, capacity: max(1_024, keys.count * 2)) }
        if insert(number, into: &keys, byKey: true) { keyCount += 1 }
        byKey = keys
        var ids = byID
        byID = []
        if (idCount + 1) * 4 > ids.count * 3 { ids = rebuilt(byKey: false, capacity: max(1_024, ids.count * 2)) }
        if insert(number, into: &ids, byKey: false) { idCount += 1 }
        byID = ids
    }

    private func pair(_ index: Int) -> Pair {
        chunks[index / Self.chunkSize][index % Self.chunkSize]
    }

    private func digest(_ number: UInt32, byKey: Bool) -> Digest {
        let found = pair(Int(number) - 1)
        return byKey ? found.key : found.id
    }

    private func slot(of digest: Digest, mask: Int) -> Int {
        Int(truncatingIfNeeded: digest.mixed(seed: seed)) & mask
    }

    /// The pair index for `digest`, nil when it has none.
    private func find(_ digest: Digest, byKey: Bool) -> Int? {
        let slots = byKey ? self.byKey : byID
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var slot = slot(of: digest, mask: mask)
        while true {
            let number = slots[slot]
            if number == 0 { return nil }
            if self.digest(number, byKey: byKey) == digest { return Int(number) - 1 }
            slot = (slot + 1) & mask
        }
    }

    /// Puts pair `number` under its digest; true when the digest was new.
    private func insert(_ number: UInt32, into slots: inout [UInt32], byKey: Bool) -> Bool {
        let digest = self.digest(number, byKey: byKey)
        let mask = slots.count - 1
        var slot = slot(of: digest, mask: mask)
        while true {
            let present = slots[slot]
            if present == 0 {
                slots[slot] = number
                return true
            }
            if self.digest(present, byKey: byKey) == digest {
                slots[slot] = number
                return false
            }
            slot = (slot + 1) & mask
        }
    }

    /// A table of `capacity` slots (a power of two) with every pair so far, in order, so
    /// that a digest claimed twice ends on its last pair.
    private func rebuilt(byKey: Bool, capacity: Int) -> [UInt32] {
        var slots = [UInt32](repeating: 0, count: capacity)
        guard pairCount > 0 else { return slots }
        for number in 1...pairCount { _ = insert(UInt32(number), into: &slots, byKey: byKey) }
        return slots
    }
}

import BackstopCrypto
import Glibc

/// Every payload id used so far, each with the entry that used it, in little memory.
///
/// A fund of a million entries has a million ids; a dictionary of strings would hold
/// hundreds of bytes for each. Here an id is kept as the first 11 bytes (88 bits) of its
/// SHA-256 with its entry number in 40 bits: 16 bytes, in one sorted table searched by
/// bisection, plus a small dictionary of the latest ids that is merged into the table, in
/// place, when it fills. Two different ids share a key with probability about n²/2^89
/// (1.6 × 10^-15 for a million ids); making an id that shares another's key takes about
/// 2^88 hashes.
public struct UsedIds: Sendable, Equatable {
    private var table = IdTable()
    private var recent: [IdKey: Int64] = [:]

    /// Ids gathered before they are merged into the sorted table.
    static let recentLimit = 16_384

    /// No ids.
    public init() {}

    /// How many ids were used.
    public var count: Int { table.count + recent.count }

    /// The entry that used `id`, or nil.
    public subscript(_ id: String) -> Int64? {
        let key = IdKey(id)
        return recent[key] ?? table.seq(of: key)
    }

    /// The largest entry number a record holds (2^40 - 1).
    static let maximumSeq: Int64 = (1 << 40) - 1

    /// Records that entry `seq` used `id` (which must be new).
    mutating func insert(_ id: String, seq: Int64) {
        precondition((0...Self.maximumSeq).contains(seq), "entry \(seq) beyond the 2^40 a ledger may hold")
        recent[IdKey(id)] = seq
        if recent.count >= Self.recentLimit { mergeRecent() }
    }

    private mutating func mergeRecent() {
        if !isKnownUniquelyReferenced(&table) { table = table.copy() }
        table.merge(recent.map { IdRecord(key: $0.key, seq: $0.value) }.sorted { $0.key < $1.key })
        recent.removeAll(keepingCapacity: true)
    }

    /// Every record, sorted by key: for comparing, and for writing a snapshot.
    var sortedRecords: [IdRecord] {
        var copy = self
        copy.mergeRecent()
        return copy.table.records
    }

    /// The ids of `records` (sorted by key, as ``sortedRecords`` gives them).
    init(sorted records: [IdRecord]) {
        table = IdTable()
        table.merge(records)
    }

    public static func == (lhs: UsedIds, rhs: UsedIds) -> Bool {
        lhs.count == rhs.count && lhs.sortedRecords == rhs.sortedRecords
    }
}

/// The first 11 bytes of SHA-256 of an id: 8 in `high`, 3 in the top of `low` (big-endian
/// order), whose low 40 bits are zero.
struct IdKey: Hashable, Comparable, Sendable {
    let high: UInt64
    let low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low & ~IdRecord.seqMask
    }

    init(_ id: String) {
        // Hashing a short string cannot fail short of OpenSSL being unusable, which reading
        // any entry would already have shown.
        let digest = (try? SHA256.hash(Array(id.utf8))) ?? [UInt8](repeating: 0, count: 32)
        high = digest[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = digest[8..<11].reduce(0) { $0 << 8 | UInt64($1) } << 40
    }

    static func < (lhs: IdKey, rhs: IdKey) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
}

/// One used id, in 16 bytes: its key, and in the low 40 bits of `low` the entry that used it.
struct IdRecord: Equatable, Sendable {
    static let seqMask: UInt64 = (1 << 40) - 1
    let high: UInt64
    let low: UInt64

    init(key: IdKey, seq: Int64) {
        high = key.high
        low = key.low | (UInt64(seq) & Self.seqMask)
    }

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    var key: IdKey { IdKey(high: high, low: low) }
    var seq: Int64 { Int64(low & Self.seqMask) }
}

/// The sorted records, in memory grown with `realloc` (which extends a large block in
/// place), so that merging needs no second copy of the table.
final class IdTable: @unchecked Sendable {
    private var base: UnsafeMutablePointer<IdRecord>? = nil
    private(set) var count = 0
    private var capacity = 0

    deinit { free(base) }

    func copy() -> IdTable {
        let other = IdTable()
        other.reserve(count)
        if count > 0 { other.base!.update(from: base!, count: count) }
        other.count = count
        return other
    }

    private func reserve(_ wanted: Int) {
        guard wanted > capacity else { return }
        let grown = max(wanted, 1_024)
        guard let memory = realloc(base, grown * MemoryLayout<IdRecord>.stride) else { fatalError("out of memory for \(grown) ids") }
        base = memory.assumingMemoryBound(to: IdRecord.self)
        capacity = grown
    }

    var records: [IdRecord] { count == 0 ? [] : Array(UnsafeBufferPointer(start: base, count: count)) }

    func seq(of key: IdKey) -> Int64? {
        guard let base else { return nil }
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if base[middle].key < key { low = middle + 1 } else { high = middle }
        }
        return low < count && base[low].key == key ? base[low].seq : nil
    }

    /// Merges `sorted` in, from the end backwards, in place.
    func merge(_ sorted: [IdRecord]) {
        guard !sorted.isEmpty else { return }
        reserve(count + sorted.count)
        let records = base!
        var write = count + sorted.count - 1, left = count - 1, right = sorted.count - 1
        while right >= 0 {
            if left >= 0 && sorted[right].key < records[left].key {
                records[write] = records[left]
                left -= 1
            } else {
                records[write] = sorted[right]
                right -= 1
            }
            write -= 1
        }
        count += sorted.count
    }
}

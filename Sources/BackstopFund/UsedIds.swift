import BackstopCrypto
import Glibc

/// Every payload id used so far, each with the entry that used it, in little memory.
///
/// A fund of a million entries has a million ids; a dictionary of strings would hold
/// hundreds of bytes for each. Here an id is kept as the first 16 bytes of its SHA-256 (a
/// collision needs about 2^64 ids) with its entry number: 24 bytes, in one sorted table
/// searched by bisection, plus a small dictionary of the latest ids that is merged into the
/// table, in place, when it fills.
public struct UsedIds: Sendable, Equatable {
    private var table = IdTable()
    private var recent: [IdKey: Int64] = [:]

    /// Ids gathered before they are merged into the sorted table.
    static let recentLimit = 65_536

    /// No ids.
    public init() {}

    /// How many ids were used.
    public var count: Int { table.count + recent.count }

    /// The entry that used `id`, or nil.
    public subscript(_ id: String) -> Int64? {
        let key = IdKey(id)
        return recent[key] ?? table.seq(of: key)
    }

    /// Records that entry `seq` used `id` (which must be new).
    mutating func insert(_ id: String, seq: Int64) {
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

/// The first 16 bytes of SHA-256 of an id, as two integers (big-endian order).
struct IdKey: Hashable, Comparable, Sendable {
    let high: UInt64
    let low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(_ id: String) {
        // Hashing a short string cannot fail short of OpenSSL being unusable, which reading
        // any entry would already have shown.
        let digest = (try? SHA256.hash(Array(id.utf8))) ?? [UInt8](repeating: 0, count: 32)
        high = digest[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = digest[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func < (lhs: IdKey, rhs: IdKey) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
}

/// One used id: its key and the entry that used it.
struct IdRecord: Equatable, Sendable {
    var key: IdKey
    var seq: Int64
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

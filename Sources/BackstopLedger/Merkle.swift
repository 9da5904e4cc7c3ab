import BackstopCrypto

/// The Merkle tree of RFC 9162 section 2.1 over a ledger's entries, with SHA-256.
///
/// The leaves are the entry hashes, SHA-256(0x00 || line), which is RFC 9162's leaf hash
/// (``Entry/hash(line:)``); an interior node is SHA-256(0x01 || left || right). The tree
/// hash of n leaves splits at k, the largest power of two smaller than n.
public enum Merkle {
    /// SHA-256 of nothing: the root of the empty tree.
    public static let emptyRoot: [UInt8] = (try? SHA256.hash([])) ?? []

    /// SHA-256(0x01 || left || right).
    public static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x01, count: 65)
        bytes.replaceSubrange(1..<33, with: left)
        bytes.replaceSubrange(33..<65, with: right)
        // Hashing 65 bytes cannot fail short of OpenSSL being unusable, which opening any
        // ledger would already have shown.
        return (try? SHA256.hash(bytes)) ?? []
    }

    /// The largest power of two smaller than `n` (n >= 2).
    static func split(_ n: Int64) -> Int64 {
        precondition(n >= 2)
        var k: Int64 = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// The tree hash of the leaves `range` of a tree, reading the hashes of complete
    /// subtrees from `subtree` (level, index): the node over leaves
    /// `index << level ..< (index + 1) << level`.
    static func hash(_ range: Range<Int64>, _ subtree: (Int, Int64) throws -> [UInt8]) rethrows -> [UInt8] {
        let count = range.count
        if count == 0 { return emptyRoot }
        // A complete, aligned subtree is one stored hash.
        if count & (count - 1) == 0 && range.lowerBound % Int64(count) == 0 {
            let level = Int64(count).trailingZeroBitCount
            return try subtree(level, range.lowerBound >> level)
        }
        let k = split(Int64(count))
        return node(try hash(range.lowerBound..<range.lowerBound + k, subtree), try hash(range.lowerBound + k..<range.upperBound, subtree))
    }

    /// The root of the first `size` leaves.
    public static func root(size: Int64, subtree: (Int, Int64) throws -> [UInt8]) rethrows -> [UInt8] {
        try hash(0..<size, subtree)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1):
    /// the sibling hashes from the leaf's up to the root's children.
    public static func inclusionProof(index: Int64, size: Int64, subtree: (Int, Int64) throws -> [UInt8]) throws -> [[UInt8]] {
        guard index >= 0, index < size else { throw LedgerError(.invalidEntry, "leaf \(index) is not in a tree of \(size) leaves") }
        var proof: [[UInt8]] = []
        func path(_ m: Int64, _ range: Range<Int64>) throws {
            guard range.count > 1 else { return }
            let k = split(Int64(range.count))
            if m < k {
                try path(m, range.lowerBound..<range.lowerBound + k)
                proof.append(try hash(range.lowerBound + k..<range.upperBound, subtree))
            } else {
                try path(m - k, range.lowerBound + k..<range.upperBound)
                proof.append(try hash(range.lowerBound..<range.lowerBound + k, subtree))
            }
        }
        try path(index, 0..<size)
        return proof
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new` leaves
    /// (RFC 9162 2.1.4.1). Empty when `old` is 0 or equal to `new`.
    public static func consistencyProof(old: Int64, new: Int64, subtree: (Int, Int64) throws -> [UInt8]) throws -> [[UInt8]] {
        guard old >= 0, old <= new else { throw LedgerError(.invalidEntry, "no consistency proof from size \(old) to the smaller size \(new)") }
        guard old > 0, old < new else { return [] }
        var proof: [[UInt8]] = []
        func subproof(_ m: Int64, _ range: Range<Int64>, _ complete: Bool) throws {
            let n = Int64(range.count)
            if m == n {
                if !complete { proof.append(try hash(range, subtree)) }
                return
            }
            let k = split(n)
            if m <= k {
                try subproof(m, range.lowerBound..<range.lowerBound + k, complete)
                proof.append(try hash(range.lowerBound + k..<range.upperBound, subtree))
            } else {
                try subproof(m - k, range.lowerBound + k..<range.upperBound, false)
                proof.append(try hash(range.lowerBound..<range.lowerBound + k, subtree))
            }
        }
        try subproof(old, 0..<new, true)
        return proof
    }

    /// Checks an inclusion proof (RFC 9162 2.1.3.2): true when `leaf` is leaf `index` of
    /// the tree of `size` leaves whose root is `root`.
    public static func verifyInclusion(leaf: [UInt8], index: Int64, size: Int64, proof: [[UInt8]], root: [UInt8]) -> Bool {
        guard index >= 0, index < size, leaf.count == 32, root.count == 32, proof.allSatisfy({ $0.count == 32 }) else { return false }
        var fn = index, sn = size - 1
        var r = leaf
        for p in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = node(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                r = node(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Checks a consistency proof (RFC 9162 2.1.4.2): true when the tree of `old` leaves
    /// with root `oldRoot` is a prefix of the tree of `new` leaves with root `newRoot`.
    public static func verifyConsistency(old: Int64, new: Int64, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]) -> Bool {
        guard old >= 0, old <= new, oldRoot.count == 32, newRoot.count == 32, proof.allSatisfy({ $0.count == 32 }) else { return false }
        if old == new { return proof.isEmpty && oldRoot == newRoot }
        if old == 0 { return proof.isEmpty }
        guard !proof.isEmpty else { return false }
        var path = proof
        // When old is a power of two, its root is the first node of the path.
        if old & (old - 1) == 0 { path.insert(oldRoot, at: 0) }
        guard !path.isEmpty else { return false }
        var fn = old - 1, sn = new - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = node(c, fr)
                sr = node(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                sr = node(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}

/// The right edge of a Merkle tree being built leaf by leaf: the roots of its complete
/// subtrees, at most one per level, so the root of any prefix is known as the leaves pass,
/// in memory that grows with the logarithm of the size.
public struct MerkleFrontier: Sendable, Equatable {
    /// How many leaves were added.
    public private(set) var size: Int64 = 0
    /// Complete subtree roots from the largest (leftmost) to the smallest.
    private var stack: [[UInt8]] = []

    /// An empty tree.
    public init() {}

    /// The roots of the complete subtrees, largest first: one per 1 bit of ``size``.
    public var subtreeRoots: [[UInt8]] { stack }

    /// The frontier of `size` leaves whose complete subtrees have `subtreeRoots` (as
    /// ``subtreeRoots`` gives them); nil when their number does not match `size`.
    public init?(size: Int64, subtreeRoots: [[UInt8]]) {
        guard size >= 0, subtreeRoots.count == size.nonzeroBitCount, subtreeRoots.allSatisfy({ $0.count == 32 }) else { return nil }
        self.size = size
        self.stack = subtreeRoots
    }

    /// Adds the next leaf hash.
    public mutating func append(_ leaf: [UInt8]) {
        var hash = leaf
        var count = size
        // Each trailing 1 bit of the old size is a complete subtree that the new leaf completes.
        while count & 1 == 1 {
            hash = Merkle.node(stack.removeLast(), hash)
            count >>= 1
        }
        stack.append(hash)
        size += 1
    }

    /// The root of the leaves added so far.
    public var root: [UInt8] {
        guard var hash = stack.last else { return Merkle.emptyRoot }
        for left in stack.dropLast().reversed() { hash = Merkle.node(left, hash) }
        return hash
    }
}

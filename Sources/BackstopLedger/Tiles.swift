import BackstopCrypto
import Foundation

import Glibc

/// The node hashes of a ledger's Merkle tree, kept beside it in the C2SP tlog-tiles layout
/// (`tlog/tile/<L>/<N>` and `tlog/tile/<L>/<N>.p/<W>`), so that a root or a proof for any
/// size reads a few small files instead of rehashing the ledger.
///
/// The tiles are derived: `LedgerStore` writes them as it appends, checks them against the
/// ledger when it opens it (the root of the tiles' size must be the ledger's root at that
/// size), and rebuilds them when they do not match. Nothing is believed from them that is
/// not checked: every proof made from them is verified against a root computed from the
/// ledger or signed in a checkpoint before it is used. They are written without fsync; a
/// crash can only make them stale, never the ledger wrong.
///
/// A tile at level L holds up to 256 consecutive hashes of complete subtrees of 256^L
/// leaves; a full tile's tree hash is one hash of the tile at level L + 1.
public final class MerkleTiles {
    /// The folder of the tiles (`<ledger>/tlog`), or nil for tiles kept in memory only.
    public let directory: URL?
    /// How many leaves the tiles hold.
    public private(set) var size: Int64 = 0
    /// The root of the leaves added, as they were added.
    public private(set) var frontier = MerkleFrontier()
    /// Per level, how many full tiles exist, and the hashes of the rightmost partial tile.
    private var fullTiles: [Int64] = []
    private var partial: [[[UInt8]]] = []
    /// Full tiles kept in memory (for in-memory tiles, and as a small read cache).
    private var memory: [TileKey: [[UInt8]]] = [:]
    private let overwrite: Bool

    struct TileKey: Hashable {
        let level: Int
        let index: Int64
    }

    /// The name of the tiles' folder inside a ledger folder.
    public static let folderName = "tlog"
    static let stateFileName = "size"
    static let width = 256

    /// Empty tiles to be filled leaf by leaf from the start of a ledger. In `directory`,
    /// full tiles already on disk are kept unless `overwrite` is set.
    public init(directory: URL?, overwrite: Bool = false) {
        self.directory = directory
        self.overwrite = overwrite
    }

    /// Adds the next leaf hash.
    public func append(_ leaf: [UInt8]) throws {
        frontier.append(leaf)
        try add(leaf, level: 0)
        size += 1
    }

    private func add(_ hash: [UInt8], level: Int) throws {
        if partial.count <= level {
            partial.append([])
            fullTiles.append(0)
        }
        partial[level].append(hash)
        guard partial[level].count == Self.width else { return }
        let tile = partial[level]
        let key = TileKey(level: level, index: fullTiles[level])
        if let directory {
            let path = directory.appendingPathComponent(Self.path(level: level, index: key.index, width: nil)).path
            // A full tile already on disk is kept only when it holds exactly these hashes: a
            // damaged one is replaced as the tiles are fed the ledger again.
            let bytes = tile.flatMap { $0 }
            if overwrite || FileManager.default.contents(atPath: path).map({ [UInt8]($0) != bytes }) ?? true { try Self.write(bytes, to: path) }
            try? FileManager.default.removeItem(atPath: path + ".p")
        } else {
            memory[key] = tile
        }
        fullTiles[level] += 1
        partial[level] = []
        try add(Self.treeHash(tile[...]), level: level + 1)
    }

    /// Writes the partial tiles of the current size and the size file, so that another
    /// process can read the tiles; removes the partial tiles of earlier sizes.
    ///
    /// Only the levels whose partial tile changed since the last flush are written, and the
    /// one older partial tile of each is removed by name (after a fresh start, every partial
    /// tile folder is cleared once).
    public func flush() throws {
        guard let directory else { return }
        for (level, hashes) in partial.enumerated() {
            let index = fullTiles[level], width = hashes.count
            if level < flushed.count, flushed[level].index == index, flushed[level].width == width { continue }
            let folder = directory.appendingPathComponent(Self.path(level: level, index: index, width: nil) + ".p").path
            if level < flushed.count, flushed[level].index == index, flushed[level].width > 0 {
                unlink(folder + "/\(flushed[level].width)")
            } else {
                // Not flushed by this object yet: clear whatever an earlier writer left.
                for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name != "\(width)" {
                    unlink(folder + "/" + name)
                }
            }
            if width > 0 { try Self.write(hashes.flatMap { $0 }, to: folder + "/\(width)") }
            while flushed.count <= level { flushed.append((-1, 0)) }
            flushed[level] = (index, width)
        }
        try Self.write(Array("\(size)\n\(Hex.encode(frontier.root))\n".utf8), to: directory.appendingPathComponent(Self.stateFileName).path)
    }

    /// Per level, the partial tile the last flush wrote (its index and width).
    private var flushed: [(index: Int64, width: Int)] = []

    /// The hash of the complete subtree over leaves `index << level ..< (index + 1) << level`.
    public func subtree(level: Int, index: Int64) throws -> [UInt8] {
        let tileLevel = level / 8, height = level % 8
        let first = index << height
        let count = 1 << height
        let tileIndex = first / Int64(Self.width)
        let offset = Int(first % Int64(Self.width))
        let hashes = try tile(level: tileLevel, index: tileIndex)
        guard offset + count <= hashes.count else {
            throw LedgerError(.invalidEntry, "the Merkle tiles hold \(size) leaves; subtree \(level)/\(index) is not complete in them")
        }
        return Self.treeHash(hashes[offset..<offset + count])
    }

    /// The root of the first `size` leaves (at most ``size``).
    public func root(size: Int64) throws -> [UInt8] {
        guard size <= self.size else { throw LedgerError(.invalidEntry, "the Merkle tiles hold \(self.size) leaves, not \(size)") }
        return try Merkle.root(size: size, subtree: subtree)
    }

    private func tile(level: Int, index: Int64) throws -> [[UInt8]] {
        guard level < fullTiles.count else { return [] }
        if index == fullTiles[level] { return partial[level] }
        guard index < fullTiles[level] else { return [] }
        let key = TileKey(level: level, index: index)
        if let cached = memory[key] { return cached }
        guard let directory else { return [] }
        let path = directory.appendingPathComponent(Self.path(level: level, index: index, width: nil)).path
        guard let data = FileManager.default.contents(atPath: path), data.count == 32 * Self.width else {
            throw LedgerError(.io, "Merkle tile \(path) is missing or damaged; it is rebuilt when the ledger is next opened for writing")
        }
        let tile = Self.split(Array(data))
        if memory.count > 4_096 { memory.removeAll(keepingCapacity: true) }
        memory[key] = tile
        return tile
    }

    /// Opens the tiles another process wrote, to read: their size, their partial tiles, and
    /// their full tiles on demand.
    ///
    /// - Throws: ``LedgerError`` `.notFound` when there are none.
    public static func open(directory: URL) throws -> MerkleTiles {
        let tiles = MerkleTiles(directory: directory)
        // The writer replaces partial tiles as it appends: read the size, then its partial
        // tiles, and start again if one was replaced in between.
        for _ in 0..<8 {
            guard let text = FileManager.default.contents(atPath: directory.appendingPathComponent(stateFileName).path).map({ String(decoding: $0, as: UTF8.self) }) else {
                throw LedgerError(.notFound, "no Merkle tiles in \(directory.path)")
            }
            let lines = text.split(separator: "\n")
            guard lines.count == 2, let size = Int64(lines[0]), size >= 0 else { throw LedgerError(.corrupt, "the Merkle tiles' size file in \(directory.path) is damaged") }
            if let loaded = try? tiles.load(size: size) {
                tiles.size = size
                tiles.fullTiles = loaded.full
                tiles.partial = loaded.partial
                return tiles
            }
        }
        throw LedgerError(.io, "the Merkle tiles in \(directory.path) keep changing while being read; try again")
    }

    private func load(size: Int64) throws -> (full: [Int64], partial: [[[UInt8]]]) {
        var full: [Int64] = [], partial: [[[UInt8]]] = []
        var count = size
        var level = 0
        while count > 0 {
            full.append(count / Int64(Self.width))
            let width = Int(count % Int64(Self.width))
            if width > 0 {
                let path = directory!.appendingPathComponent(Self.path(level: level, index: full[level], width: width)).path
                guard let data = FileManager.default.contents(atPath: path), data.count == 32 * width else {
                    throw LedgerError(.io, "partial tile \(path) is missing")
                }
                partial.append(Self.split(Array(data)))
            } else {
                partial.append([])
            }
            count /= Int64(Self.width)
            level += 1
        }
        return (full, partial)
    }

    /// The tiles in `directory`, opened to append after the leaves of `frontier`: they
    /// must hold exactly that many leaves with that root.
    /// They may hold more leaves than `frontier` (entries appended after it); the caller
    /// compares those with the ledger's (``leaf(_:)``) as it reads them again.
    static func resume(directory: URL, frontier: MerkleFrontier) throws -> MerkleTiles {
        let tiles = try open(directory: directory)
        guard tiles.size >= frontier.size, try tiles.root(size: frontier.size) == frontier.root else {
            throw LedgerError(.corrupt, "the Merkle tiles in \(directory.path) do not match")
        }
        // The frontier of all the leaves they hold: one complete subtree per 1 bit of the size.
        var roots: [[UInt8]] = [], first: Int64 = 0
        for level in stride(from: 62, through: 0, by: -1) where tiles.size & (Int64(1) << level) != 0 {
            roots.append(try tiles.subtree(level: level, index: first >> level))
            first += Int64(1) << level
        }
        guard let all = MerkleFrontier(size: tiles.size, subtreeRoots: roots) else { throw LedgerError(.corrupt, "the Merkle tiles do not match") }
        tiles.frontier = all
        return tiles
    }

    /// Marks the tiles of the ledger in `folder` as stale (removes their size file), so that
    /// the next writer rebuilds them; a failure to do so is ignored (they are a cache).
    public static func markStale(ledger folder: URL) {
        unlink(folder.appendingPathComponent(folderName).appendingPathComponent(stateFileName).path)
    }

    /// The hash of leaf `index` (which the tiles hold).
    func leaf(_ index: Int64) throws -> [UInt8] { try subtree(level: 0, index: index) }

    /// The tiles of the ledger in `folder`, holding at least `size` leaves: the ones on disk
    /// when they do and `useCache` is set, or else tiles built in memory from the ledger's
    /// lines. Whoever uses cached tiles must check what it makes from them against a root
    /// it trusts.
    public static func forReading(ledger folder: URL, size: Int64, useCache: Bool = true) throws -> MerkleTiles {
        if useCache, let tiles = try? open(directory: folder.appendingPathComponent(folderName)), tiles.size >= size { return tiles }
        let file = folder.appendingPathComponent(LedgerStore.ledgerFileName)
        let fd = Glibc.open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LedgerError(.notFound, "no ledger: \(file.path) cannot be opened") }
        defer { close(fd) }
        let tiles = MerkleTiles(directory: nil)
        var reader = LineReader(fd: fd)
        while tiles.size < size, case .line(let line)? = try reader.next(limit: Entry.maximumLineBytes) {
            try tiles.append(try Entry.hash(line: line))
        }
        guard tiles.size >= size else { throw LedgerError(.notFound, "the ledger has \(tiles.size) entries, not \(size)") }
        return tiles
    }

    /// The Merkle tree of the first `size` entries held by `storage`, in memory, from
    /// their stored lines.
    public static func build(from storage: any LedgerStorage, size: Int64) throws -> MerkleTiles {
        let tiles = MerkleTiles(directory: nil)
        while tiles.size < size {
            let lines = try storage.lines(from: tiles.size, count: Int(min(size - tiles.size, 64)))
            guard !lines.isEmpty else { throw LedgerError(.notFound, "the ledger has \(tiles.size) entries, not \(size)") }
            for line in lines { try tiles.append(try Entry.hash(line: line)) }
        }
        return tiles
    }

    /// The size and root the tiles in `directory` say they hold, or nil.
    static func recorded(in directory: URL) -> (size: Int64, root: [UInt8])? {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(stateFileName).path) else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        guard lines.count == 2, let size = Int64(lines[0]), let root = Hex.decode(String(lines[1])), root.count == 32 else { return nil }
        return (size, root)
    }

    /// `tile/<L>/<N>` or `tile/<L>/<N>.p/<W>`, with N in 3-digit groups, all but the last
    /// starting with `x` (index 1234067 is `x001/x234/067`).
    public static func path(level: Int, index: Int64, width: Int?) -> String {
        var groups: [String] = []
        var rest = index
        repeat {
            let group = String(rest % 1_000)
            groups.insert(String(repeating: "0", count: 3 - group.count) + group, at: 0)
            rest /= 1_000
        } while rest > 0
        let name = groups.enumerated().map { $0.offset < groups.count - 1 ? "x" + $0.element : $0.element }.joined(separator: "/")
        return "tile/\(level)/\(name)" + (width.map { ".p/\($0)" } ?? "")
    }

    /// The tree hash of a run of hashes whose count is a power of two.
    static func treeHash(_ hashes: ArraySlice<[UInt8]>) -> [UInt8] {
        if hashes.count == 1 { return hashes.first! }
        let half = hashes.count / 2
        return Merkle.node(treeHash(hashes.prefix(half)), treeHash(hashes.suffix(half)))
    }

    private static func split(_ bytes: [UInt8]) -> [[UInt8]] {
        stride(from: 0, to: bytes.count, by: 32).map { Array(bytes[$0..<$0 + 32]) }
    }

    /// Writes a file through a temporary name, so a reader sees the old or the new file.
    private static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        var fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if fd < 0 && errno == ENOENT {
            // The first tile of its folder.
            let folder = (path as NSString).deletingLastPathComponent
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        }
        guard fd >= 0 else { throw LedgerError(.io, "cannot write Merkle tile \(temporary): \(errnoDescription())") }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw LedgerError(.io, "cannot write Merkle tile \(path): \(errnoDescription())")
        }
    }
}

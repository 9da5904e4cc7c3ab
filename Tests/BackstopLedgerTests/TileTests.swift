import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Merkle tiles beside the ledger (C2SP tlog-tiles layout)", .serialized)
struct TileTests {
    /// A ledger of `count` unsigned entries, and their leaf hashes.
    func ledger(_ count: Int) throws -> (URL, LedgerStore, [[UInt8]]) {
        let directory = try makeTemporaryDirectory("backstop-tiles")
        let store = try LedgerStore.create(at: directory)
        var leaves: [[UInt8]] = []
        let start = Timestamp("2026-01-01T00:00:00Z")!
        for index in 0..<count {
            let (_, hash) = try store.append(kind: "test", time: start, body: ["n": .integer(Int64(index))], signatures: [])
            leaves.append(hash)
        }
        return (directory, store, leaves)
    }

    @Test("tile paths are the C2SP ones")
    func paths() {
        #expect(MerkleTiles.path(level: 0, index: 5, width: nil) == "tile/0/005")
        #expect(MerkleTiles.path(level: 1, index: 1_234_067, width: nil) == "tile/1/x001/x234/067")
        #expect(MerkleTiles.path(level: 2, index: 1_000, width: 17) == "tile/2/x001/000.p/17")
    }

    @Test("roots and proofs from the tiles, written as entries are appended, equal the plain RFC model across several tiles; another process reads the same")
    func againstReference() throws {
        let (directory, store, leaves) = try ledger(600)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The writer writes its tiles out every 256 entries, and when asked (or closed).
        #expect(try MerkleTiles.open(directory: directory.appendingPathComponent("tlog")).size == 512)
        store.writeTiles()
        let reader = try MerkleTiles.open(directory: directory.appendingPathComponent("tlog"))
        #expect(reader.size == 600)
        for size in [1, 2, 255, 256, 257, 511, 512, 513, 599, 600] {
            let root = Reference.mth(leaves[0..<size])
            #expect(try store.root(size: Int64(size)) == root && (try reader.root(size: Int64(size))) == root, "size \(size)")
            for index in [0, size / 3, size - 1] {
                let proof = try Merkle.inclusionProof(index: Int64(index), size: Int64(size), subtree: reader.subtree)
                #expect(proof == Reference.path(index, leaves[0..<size]), "\(index) of \(size)")
            }
            let consistency = try Merkle.consistencyProof(old: Int64(size), new: 600, subtree: reader.subtree)
            #expect(Merkle.verifyConsistency(old: Int64(size), new: 600, oldRoot: root, newRoot: Reference.mth(leaves[...]), proof: consistency))
        }
        let full = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("tlog/tile/0").path).sorted()
        #expect(full == ["000", "001", "002.p"], "\(full)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("tlog/tile/0/002.p").path) == ["88"])
    }

    @Test("tiles that do not match the ledger are rebuilt when it is opened; damaged ones are reported, not believed")
    func staleTiles() throws {
        let (directory, store, leaves) = try ledger(300)
        defer { try? FileManager.default.removeItem(at: directory) }
        store.close()
        // Another ledger's tiles (or a half-written cache): the recorded root is wrong.
        let sizeFile = directory.appendingPathComponent("tlog/size")
        try "300\n\(String(repeating: "00", count: 32))\n".write(to: sizeFile, atomically: true, encoding: .utf8)
        try Data(repeating: 7, count: 8_192).write(to: directory.appendingPathComponent("tlog/tile/0/000"))
        let reopened = try LedgerStore.open(at: directory)
        #expect(try reopened.root(size: 300) == Reference.mth(leaves[...]))
        #expect(try reopened.root(size: 256) == Reference.mth(leaves[0..<256]))
        reopened.close()
        // A damaged tile that the size file does not reveal: a proof from it fails to verify
        // against the ledger's root, which is what every user of the tiles checks.
        try Data(repeating: 7, count: 8_192).write(to: directory.appendingPathComponent("tlog/tile/0/000"))
        let damaged = try MerkleTiles.open(directory: directory.appendingPathComponent("tlog"))
        let proof = try Merkle.inclusionProof(index: 3, size: 300, subtree: damaged.subtree)
        #expect(!Merkle.verifyInclusion(leaf: leaves[3], index: 3, size: 300, proof: proof, root: Reference.mth(leaves[...])))
        // And the tiles built from the ledger's lines, which the witnesses use, are right.
        let fresh = try MerkleTiles.forReading(ledger: directory, size: 300, useCache: false)
        #expect(try fresh.root(size: 300) == Reference.mth(leaves[...]))
        // Opening the ledger to write again repairs the damaged full tile.
        let repaired = try LedgerStore.open(at: directory)
        repaired.close()
        let again = try MerkleTiles.open(directory: directory.appendingPathComponent("tlog"))
        let good = try Merkle.inclusionProof(index: 3, size: 300, subtree: again.subtree)
        #expect(Merkle.verifyInclusion(leaf: leaves[3], index: 3, size: 300, proof: good, root: Reference.mth(leaves[...])))
        #expect(try Data(contentsOf: directory.appendingPathComponent("tlog/tile/0/000")) == Data(leaves[0..<256].flatMap { $0 }))
    }
}

import BackstopCrypto
import BackstopLedger
import Foundation
import Testing

/// RFC 9162 section 2.1 written out as plainly as the RFC states it, over an array of
/// leaf hashes: the independent model the tree code is checked against.
enum Reference {
    static func h(_ bytes: [UInt8]) -> [UInt8] { try! SHA256.hash(bytes) }
    static func k(_ n: Int) -> Int { var k = 1; while k * 2 < n { k *= 2 }; return k }

    static func mth(_ d: ArraySlice<[UInt8]>) -> [UInt8] {
        if d.isEmpty { return h([]) }
        if d.count == 1 { return d.first! }
        let k = k(d.count)
        return h([0x01] + mth(d.prefix(k)) + mth(d.dropFirst(k)))
    }

    static func path(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [[UInt8]] {
        if d.count <= 1 { return [] }
        let k = k(d.count)
        return m < k ? path(m, d.prefix(k)) + [mth(d.dropFirst(k))] : path(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    static func subproof(_ m: Int, _ d: ArraySlice<[UInt8]>, _ b: Bool) -> [[UInt8]] {
        if m == d.count { return b ? [] : [mth(d)] }
        let k = k(d.count)
        return m <= k ? subproof(m, d.prefix(k), b) + [mth(d.dropFirst(k))] : subproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }
}

@Suite("Merkle tree: RFC 9162 roots and proofs")
struct MerkleTests {
    static let leaves: [[UInt8]] = (0..<64).map { try! Entry.hash(line: Array("leaf \($0)".utf8)) }

    /// Complete subtree hashes straight from the leaves, as a cache would store them.
    func subtree(_ leaves: [[UInt8]]) -> (Int, Int64) -> [UInt8] {
        { level, index in
            let start = Int(index) << level
            return Reference.mth(leaves[start..<start + (1 << level)])
        }
    }

    @Test("roots, inclusion and consistency proofs equal the plain RFC model for every size, index and pair up to 64")
    func againstReference() throws {
        let leaves = Self.leaves
        var proofs = 0
        for n in 1...64 {
            let tree = leaves[0..<n]
            let root = Reference.mth(tree)
            #expect(Merkle.root(size: Int64(n), subtree: subtree(leaves)) == root)
            var frontier = MerkleFrontier()
            for leaf in tree { frontier.append(leaf) }
            #expect(frontier.root == root && frontier.size == Int64(n))
            for m in 0..<n {
                let proof = try Merkle.inclusionProof(index: Int64(m), size: Int64(n), subtree: subtree(leaves))
                #expect(proof == Reference.path(m, tree), "inclusion \(m) of \(n)")
                #expect(Merkle.verifyInclusion(leaf: leaves[m], index: Int64(m), size: Int64(n), proof: proof, root: root))
                proofs += 1
            }
            for m in 1...n {
                let proof = try Merkle.consistencyProof(old: Int64(m), new: Int64(n), subtree: subtree(leaves))
                #expect(proof == (m == n ? [] : Reference.subproof(m, tree, true)), "consistency \(m) to \(n)")
                #expect(Merkle.verifyConsistency(old: Int64(m), new: Int64(n), oldRoot: Reference.mth(leaves[0..<m]), newRoot: root, proof: proof))
                proofs += 1
            }
        }
        print("Merkle: \(proofs) proofs for sizes 1 to 64 equal the reference and verify")
    }

    @Test("forged, truncated, extended and wrong-size proofs are refused")
    func refusals() throws {
        let leaves = Self.leaves
        var refused = 0
        for n in 2...40 {
            let root = Reference.mth(leaves[0..<n])
            let larger = Reference.mth(leaves[0..<n + 1])
            for m in 0..<n {
                let proof = try Merkle.inclusionProof(index: Int64(m), size: Int64(n), subtree: subtree(leaves))
                var forged = proof
                if !forged.isEmpty { forged[forged.count / 2][0] ^= 1 }
                for (leaf, index, size, path) in [(leaves[m], m, n, forged), (leaves[m], m, n, Array(proof.dropLast())), (leaves[m], m, n, proof + [root]),
                                                  (leaves[m], (m + 1) % n, n, proof), (leaves[(m + 1) % n], m, n, proof),
                                                  (leaves[m], m + n, n, proof)] where !(path == proof && index == m && size == n && leaf == leaves[m]) {
                    #expect(!Merkle.verifyInclusion(leaf: leaf, index: Int64(index), size: Int64(size), proof: path, root: root), "inclusion \(m) of \(n)")
                    refused += 1
                }
                // A proof made for another size does not verify against that size's checkpoint.
                #expect(!Merkle.verifyInclusion(leaf: leaves[m], index: Int64(m), size: Int64(n + 1), proof: proof, root: larger), "inclusion \(m) of \(n) as of \(n + 1)")
                refused += 1
            }
            for m in 1..<n {
                let proof = try Merkle.consistencyProof(old: Int64(m), new: Int64(n), subtree: subtree(leaves))
                let old = Reference.mth(leaves[0..<m])
                var forged = proof
                forged[0][31] ^= 1
                #expect(!Merkle.verifyConsistency(old: Int64(m), new: Int64(n), oldRoot: old, newRoot: root, proof: forged))
                #expect(!Merkle.verifyConsistency(old: Int64(m), new: Int64(n), oldRoot: old, newRoot: root, proof: Array(proof.dropLast())))
                #expect(!Merkle.verifyConsistency(old: Int64(m), new: Int64(n), oldRoot: old, newRoot: root, proof: proof + [old]))
                #expect(!Merkle.verifyConsistency(old: Int64(m), new: Int64(n) + 1, oldRoot: old, newRoot: larger, proof: proof))
                #expect(!Merkle.verifyConsistency(old: Int64(m), new: Int64(n), oldRoot: Reference.mth(leaves[1...m]), newRoot: root, proof: proof))
                #expect(!Merkle.verifyConsistency(old: Int64(m), new: Int64(n), oldRoot: old, newRoot: old, proof: proof))
                #expect(!Merkle.verifyConsistency(old: Int64(m), new: Int64(n), oldRoot: old, newRoot: root, proof: []))
                refused += 7
            }
        }
        #expect(!Merkle.verifyConsistency(old: 5, new: 4, oldRoot: Self.leaves[0], newRoot: Self.leaves[0], proof: []))
        #expect(throws: LedgerError.self) { try Merkle.inclusionProof(index: 4, size: 4, subtree: subtree(Self.leaves)) }
        #expect(throws: LedgerError.self) { try Merkle.consistencyProof(old: 5, new: 4, subtree: subtree(Self.leaves)) }
        print("Merkle: \(refused) damaged proofs refused")
    }

    @Test("the fixed roots that Docs/FORMAT.md gives for auditors")
    func fixedRoots() {
        // Leaves are SHA-256(0x00 || "leaf i"), as in the table of Docs/FORMAT.md section 13.
        let expected: [Int: String] = [
            1: "1bb97dcc21635d47e2663efdfd0a174686d98dd701352dd2cd06e8b43fd3d305",
            2: "fc5f6b88ff8554f75bb2f9e6f39c31b1936d44b69276edf7b1205a955b9761e3",
            3: "d4f92c8fbb89720eb3b55677c7d7efaddfeb10d11a1a84a0ba8f1a23337faa95",
            7: "5a61fc2b54f9cfa71774f2432143dd40c6cb2b11947faf65a7d3da5cb65199c8",
            64: "f261e23692d978fdac3fd949db5495940a437ae671b9a6dde9aa6118d003652f",
        ]
        for (size, root) in expected {
            #expect(Hex.encode(Merkle.root(size: Int64(size), subtree: subtree(Self.leaves))) == root, "size \(size)")
        }
        #expect(Hex.encode(Merkle.emptyRoot) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}

import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Random sequences of valid and invalid actions")
struct PropertyTests {
    @Test("invariants hold after every step, and replaying the ledger gives the same state", arguments: [1, 2, 3] as [UInt64])
    func randomActions(seed: UInt64) throws {
        var random = SplitMix64(state: seed)
        let f = try Fixture()
        var memberKeys: [String: PrivateKey] = [:]
        for id in ["a", "b", "c"] { memberKeys[id] = try f.admit(id, size: Amount(minorUnits: String(UInt.random(in: 0...100_000_000_000_000, using: &random)))!) }
        var claimIds: [String] = []
        var releaseIds: [String] = []
        var accepted = 0, refused = 0
        for step in 0..<150 {
            f.advance(seconds: Int64.random(in: 0...(3 * 86_400), using: &random))
            let member = ["a", "b", "c", "nobody"].randomElement(using: &random)!
            let asset = ["BTC", "ETH", "USDC", "XRP"].randomElement(using: &random)!
            let amount = String(Int64.random(in: -5...5_000_000_000, using: &random))
            let before = f.state
            do {
                switch Int.random(in: 0..<6, using: &random) {
                case 0, 1:
                    try f.contribute(member, key: memberKeys[member] ?? memberKeys["a"]!, asset: asset, amount: amount)
                case 2:
                    let id = "claim-\(step)"
                    try f.memberClaim(member, key: memberKeys[member] ?? memberKeys["a"]!, losses: [asset: amount], id: id)
                    claimIds.append(id)
                case 3:
                    guard let claim = claimIds.randomElement(using: &random) else { continue }
                    let id = "release-\(step)"
                    let signers = Array((0..<7).shuffled(using: &random).prefix(Int.random(in: 2...6, using: &random)))
                    try f.delegateAction(.release, f.releasePayload(claim: claim, [asset: amount], id: id).objectValue!, signers: signers, id: id)
                    releaseIds.append(id)
                case 4:
                    guard let release = releaseIds.randomElement(using: &random) else { continue }
                    try f.delegateAction(.settle, ["release": .string(release), "reference": "tx"])
                default:
                    guard let release = releaseIds.randomElement(using: &random) else { continue }
                    try f.delegateAction(.cancel, ["release": .string(release), "reason": "r"])
                }
                accepted += 1
            } catch is FundError {
                refused += 1
                #expect(f.state == before, "a refused action changed the state at step \(step)")
            }
            for (asset, balance) in f.state.balances {
                #expect(balance.reserved + balance.paid <= balance.contributed, "\(asset) at step \(step)")
            }
            for claim in f.state.claims.values {
                for (asset, loss) in claim.losses { #expect((claim.committed[asset] ?? .zero) <= loss) }
            }
        }
        let (replayed, result) = try Fund.verify(file: f.directory.appendingPathComponent("ledger.jsonl"))
        let (again, _) = try Fund.verify(file: f.directory.appendingPathComponent("ledger.jsonl"))
        #expect(replayed == f.state && again == replayed)
        #expect(result.entryCount == f.state.entryCount)
        print("seed \(seed): \(accepted) actions accepted, \(refused) refused, \(result.entryCount) entries; replay equals incremental state")
        #expect(accepted > 10 && refused > 10)
    }

    @Test("reopening the ledger replays to the same state")
    func reopen() throws {
        let (f, key) = try Fixture.withClaim()
        try f.contribute("big", key: key, asset: "ETH", amount: "123")
        let state = f.state
        let directory = f.directory
        let copy = try makeCopy(of: directory)
        defer { try? FileManager.default.removeItem(at: copy) }
        #expect(try Fund.open(at: copy).state == state)
    }

    private func makeCopy(of directory: URL) throws -> URL {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("backstop-copy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: directory.appendingPathComponent("ledger.jsonl"), to: copy.appendingPathComponent("ledger.jsonl"))
        return copy
    }
}

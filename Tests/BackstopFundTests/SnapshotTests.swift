@testable import BackstopFund
import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Snapshots: opening a large ledger without replaying it whole, never trusting a snapshot that does not match", .serialized)
struct SnapshotTests {
    @Test("every state of a fund with every kind of entry survives the snapshot encoding")
    func roundTrip() throws {
        let (f, key) = try Fixture.withClaim()
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"], id: "r1").objectValue!, id: "r1")
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["USDC": "1000"], id: "r2").objectValue!, id: "r2")
        try f.checkpoint()
        f.advance(seconds: 86_400)
        try f.checkpoint()
        try f.delegateAction(.settle, ["release": "r1", "reference": "tx-1"])
        try f.delegateAction(.cancel, ["release": "r2", "reason": "duplicate"])
        try f.delegateAction(.memberStatus, ["member": "big", "status": "suspended", "reason": "audit"])
        try f.contribute("big", key: key, asset: "ETH", amount: "5")
        var checked = 0
        _ = try Fund.verify(file: f.fund.file!, willApply: { _, state in
            #expect((try? FundState(snapshot: state.snapshotJSON, usedIds: state.usedIds)) == state, "state after \(state.entryCount) entries")
            checked += 1
        })
        #expect(try FundState(snapshot: f.state.snapshotJSON, usedIds: f.state.usedIds) == f.state)
        #expect(checked == Int(f.state.entryCount) - 1 && f.state.releases.count == 2 && f.state.witnessedTime != nil)
    }

    /// A fund of `count` entries made with batches, closed.
    func largeFund(_ count: Int) throws -> (Fixture, PrivateKey) {
        let f = try Fixture()
        let key = try f.admit("m")
        let items = try (2..<count).map { index in
            let payload = Payloads.make(ContributionPayload(member: "m", asset: "USDC", amount: Amount(minorUnits: String(index))!, period: 0, reference: "tx-\(index)"),
                                        for: f.state, expires: f.expiry)
            return Fund.BatchItem(kind: .contribution, payload: payload, signatures: try Payloads.sign(payload, with: [key]))
        }
        try f.fund.submit(batch: items, time: f.now)
        f.close()
        return (f, key)
    }

    func contribute(_ fund: Fund, key: PrivateKey, _ count: Int, at time: Timestamp) throws {
        for index in 0..<count {
            let payload = Payloads.make(ContributionPayload(member: "m", asset: "USDC", amount: Amount(minorUnits: String(index + 1))!, period: 0, reference: "more-\(index)"),
                                        for: fund.state, expires: time.adding(seconds: 3_600)!)
            try fund.submit(.contribution, payload: payload, signatures: try Payloads.sign(payload, with: [key]), time: time)
        }
    }

    @Test("a snapshot is written past 256 new entries; opening replays only what follows it, to the state a full replay gives")
    func openFromSnapshot() throws {
        let (f, key) = try largeFund(600)
        #expect(FileManager.default.fileExists(atPath: f.directory.appendingPathComponent("state/snapshot.json").path))
        let first = try Fund.open(at: f.directory, clock: { [now = f.now] in now })
        #expect(first.replayedAtOpen == 0 && first.state.entryCount == 600)
        try contribute(first, key: key, 10, at: f.now)
        first.close()
        let second = try Fund.open(at: f.directory, clock: { [now = f.now] in now })
        #expect(second.replayedAtOpen == 10)
        #expect(second.state == (try Fund.verify(file: f.fund.file!)).0)
        // A refusal after a resumed open is the same as after a full replay.
        let reused = Payloads.make(ContributionPayload(member: "m", asset: "USDC", amount: Amount(1), period: 0, reference: "x"),
                                   for: second.state, id: "reused", expires: f.expiry)
        try second.submit(.contribution, payload: reused, signatures: try Payloads.sign(reused, with: [key]), time: f.now)
        #expect(refusal { try second.submit(.contribution, payload: reused, signatures: try Payloads.sign(reused, with: [key]), time: f.now) }?.rule == .replayedId)
        second.close()
    }

    @Test("a damaged, stale, foreign or mismatched snapshot is ignored: the ledger is replayed whole, and the state is right")
    func untrustedSnapshots() throws {
        let (f, key) = try largeFund(600)
        let snapshot = f.directory.appendingPathComponent("state/snapshot.json"), ids = f.directory.appendingPathComponent("state/ids")
        let good = (try Data(contentsOf: snapshot), try Data(contentsOf: ids))
        func reopen(_ why: String, entries: Int64 = 600) throws {
            let fund = try Fund.open(at: f.directory, clock: { [now = f.now] in now })
            defer { fund.close() }
            #expect(fund.replayedAtOpen == entries, "\(why): replayed \(fund.replayedAtOpen)")
            #expect(fund.state == (try Fund.verify(file: f.fund.file!)).0, "\(why)")
        }
        func restore() throws { try good.0.write(to: snapshot); try good.1.write(to: ids) }

        var bytes = [UInt8](good.1)
        bytes[100] ^= 1
        try Data(bytes).write(to: ids)
        try reopen("an id flipped")
        try restore()
        let text = String(decoding: good.0, as: UTF8.self)
        let edited = text.replacingOccurrences(of: #""contributed":"179699""#, with: #""contributed":"999999""#)
        #expect(edited != text)
        try Data(edited.utf8).write(to: snapshot)
        try reopen("a balance changed")
        try restore()
        try Data("{}".utf8).write(to: snapshot)
        try reopen("not a snapshot")
        // The ledger rolled back below the snapshot: its head line is gone.
        try restore()
        let lines = try String(contentsOf: f.fund.file!, encoding: .utf8).split(separator: "\n")
        try (lines.prefix(580).joined(separator: "\n") + "\n").write(to: f.fund.file!, atomically: true, encoding: .utf8)
        try reopen("rolled back", entries: 580)
        // Another fund's snapshot.
        let (g, _) = try largeFund(300)
        try FileManager.default.removeItem(at: f.directory.appendingPathComponent("state"))
        try FileManager.default.copyItem(at: g.directory.appendingPathComponent("state"), to: f.directory.appendingPathComponent("state"))
        try reopen("another fund's", entries: 580)
        // Missing tiles: the state still resumes from the snapshot; the tiles are rebuilt.
        let fund = try Fund.open(at: f.directory, clock: { [now = f.now] in now })
        try contribute(fund, key: key, 1, at: f.now)
        fund.close()
        try FileManager.default.removeItem(at: f.directory.appendingPathComponent("tlog"))
        try reopen("no tiles", entries: 1)
        #expect(try MerkleTiles.open(directory: f.directory.appendingPathComponent("tlog")).size == 581)
    }

    @Test("tiles marked stale (as prove does when it finds one damaged) are rebuilt at the next open, which still resumes from the snapshot")
    func staleTilesWithSnapshot() throws {
        let (f, _) = try largeFund(600)
        let tile = f.directory.appendingPathComponent("tlog/tile/0/001")
        let good = try Data(contentsOf: tile)
        try Data(repeating: 9, count: good.count).write(to: tile)
        MerkleTiles.markStale(ledger: f.directory)
        let fund = try Fund.open(at: f.directory, clock: { [now = f.now] in now })
        fund.close()
        #expect(fund.replayedAtOpen == 0)
        #expect(try Data(contentsOf: tile) == good)
        #expect(try MerkleTiles.open(directory: f.directory.appendingPathComponent("tlog")).root(size: 600) == fund.state.frontier.root)
    }
}

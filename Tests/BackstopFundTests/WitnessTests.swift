import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Witnessed time and history: checkpoints, quorums, and a host that lies about time")
struct WitnessTests {
    /// A cosignature of the ledger's current checkpoint by delegate `index` at `time`.
    func cosign(_ f: Fixture, _ note: SignedNote, _ index: Int, at time: Timestamp) throws -> SignedNote {
        let key = f.delegates[index]
        return note.adding(try key.cosignature(name: Cosigner.delegateName(key.publicKey), text: note.text, time: time.secondsSinceEpoch))
    }

    @Test("3 of 4 required cosignatures do not seal a checkpoint, 4 do; cosignatures by unknown keys are ignored")
    func quorum() throws {
        let f = try Fixture()
        var note = SignedNote(text: f.fund.checkpoint().text)
        for index in 0..<3 { note = try cosign(f, note, index, at: f.now) }
        let stranger = try Ed25519PrivateKey()
        note = note.adding(try stranger.cosignature(name: "witness.example/stranger", text: note.text, time: f.now.secondsSinceEpoch))
        let short = refusal { try f.fund.submitCheckpoint(note, time: f.now) }
        #expect(short?.rule == .quorum && short?.reason.contains("needs 4 cosignatures of the fund's witnesses, found 3") == true, "\(short?.reason ?? "")")
        #expect(short?.reason.contains("1 by other keys, ignored") == true)
        note = try cosign(f, note, 3, at: f.now)
        let entry = try f.fund.submitCheckpoint(note, time: f.now)
        #expect(entry.kind == "checkpoint" && f.state.checkpointSize == 1 && f.state.witnessedTime == f.now)
        // A known witness whose line does not verify spoils the checkpoint.
        var bad = SignedNote(text: f.fund.checkpoint().text)
        for index in 0..<4 { bad = try cosign(f, bad, index, at: f.now) }
        var bytes = bad.signatures[0].bytes
        bytes[bytes.count - 1] ^= 1
        bad = SignedNote(text: bad.text, signatures: [SignedNote.Signature(name: bad.signatures[0].name, keyID: bad.signatures[0].keyID, bytes: bytes)] + bad.signatures.dropFirst())
        #expect(refusal { try f.fund.submitCheckpoint(bad, time: f.now) }?.rule == .unauthorizedSigner)
    }

    @Test("named Ed25519 witnesses: 2 of 3; a checkpoint of another root, or not after the last, is refused; witness time may not go back")
    func namedWitnesses() throws {
        let witnesses = try (0..<3).map { _ in try Ed25519PrivateKey() }
        let policy = WitnessPolicy.cosigners(witnesses.enumerated().map { Cosigner(name: "w\($0.offset).example", key: .ed25519($0.element.publicKey)) }, quorum: 2)
        let f = try Fixture(witnesses: policy)
        func note(_ checkpoint: Checkpoint, _ signers: [Int], at time: Timestamp) throws -> SignedNote {
            var note = SignedNote(text: checkpoint.text)
            for index in signers { note = note.adding(try witnesses[index].cosignature(name: "w\(index).example", text: note.text, time: time.secondsSinceEpoch)) }
            return note
        }
        #expect(refusal { try f.fund.submitCheckpoint(try note(f.fund.checkpoint(), [0], at: f.now), time: f.now) }?.rule == .quorum)
        let first = f.fund.checkpoint()
        try f.fund.submitCheckpoint(try note(first, [0, 2], at: f.now), time: f.now)
        // The same checkpoint again is the same entry id: already recorded.
        #expect(refusal { try f.fund.submitCheckpoint(try note(first, [0, 1], at: f.now), time: f.now) }?.rule == .replayedId)
        f.advance(seconds: 60)
        try f.admit("m")
        let second = f.fund.checkpoint()   // of 3 entries: genesis, the first checkpoint, the admission
        let lying = Checkpoint(origin: first.origin, size: f.state.entryCount, root: [UInt8](repeating: 1, count: 32))
        let other = refusal { try f.fund.submitCheckpoint(try note(lying, [0, 1], at: f.now), time: f.now) }
        #expect(other?.rule == .checkpointMismatch && other?.reason.contains("consistency proof") == true)
        let earlier = refusal { try f.fund.submitCheckpoint(try note(f.fund.checkpoint(), [0, 1], at: f.now.adding(seconds: -3_600)!), time: f.now) }
        #expect(earlier?.rule == .timeBackwards && earlier?.reason.contains("witness w0.example cosigns at") == true, "\(earlier?.reason ?? "")")
        try f.fund.submitCheckpoint(try note(second, [1, 2], at: f.now), time: f.now)
        #expect(f.state.checkpointSize == 3)
        // A checkpoint of an earlier prefix than the last recorded one adds nothing.
        let older = Checkpoint(origin: first.origin, size: 2, root: try f.fund.tiles.root(size: 2))
        let behind = refusal { try f.fund.submitCheckpoint(try note(older, [0, 1], at: f.now), time: f.now) }
        #expect(behind?.rule == .checkpointMismatch && behind?.reason.contains("not after the last recorded one, of 3") == true, "\(behind?.reason ?? "")")
    }

    @Test("an entry stamped far in the future is refused when appended; within the tolerance it is not")
    func futureEntry() throws {
        let f = try Fixture()
        let key = try f.admit("m")
        let clock = f.now
        f.close()
        let fund = try Fund.open(at: f.directory, clock: { clock })
        func contribution(_ time: Timestamp) -> FundError? {
            refusal {
                let payload = Payloads.make(ContributionPayload(member: "m", asset: "USDC", amount: Amount(1), period: 0, reference: "r"), for: fund.state, expires: Timestamp("9999-12-31T23:00:00Z")!)
                try fund.submit(.contribution, payload: payload, signatures: try Payloads.sign(payload, with: [key]), time: time)
            }
        }
        let future = contribution(Timestamp("9999-12-31T22:59:59Z")!)
        #expect(future?.rule == .timeAhead && future?.reason.contains("ahead of the writer's clock") == true)
        #expect(contribution(clock.adding(seconds: FundLimits.clockToleranceSeconds + 1)!)?.rule == .timeAhead)
        #expect(contribution(clock.adding(seconds: FundLimits.clockToleranceSeconds)!) == nil)
    }

    @Test("a host that backdates: a settlement before the witnessed delay and a revived expired approval are refused by verify")
    func backdating() throws {
        // A settlement stamped 25 hours after its release, with no checkpoint attesting that
        // time: refused by the rules at replay, however the host stamped it.
        let (f, _) = try Fixture.withClaim()
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"], id: "r1").objectValue!, id: "r1")
        try f.checkpoint()
        let settle = Payloads.make(SettlePayload(release: "r1", reference: "tx"), for: f.state, expires: f.now.adding(seconds: 200_000)!)
        let settleSignatures = try Payloads.sign(settle, with: Array(f.delegates.prefix(4)))
        let stamped = f.now.adding(seconds: 25 * 3_600)!
        f.close()
        let store = try LedgerStore.open(at: f.directory)
        let (entry, _) = try store.append(kind: "settle", time: stamped, body: settle, signatures: settleSignatures)
        let refusedSettle = #expect(throws: FundError.self) { try Fund.verify(file: f.fund.file) }
        #expect(refusedSettle?.rule == .tooEarly && refusedSettle?.seq == entry.seq && refusedSettle?.reason.contains("fund's witnessed time is 2026-01-01T00:00:00Z") == true, "\(refusedSettle?.reason ?? "")")

        // An approval that expired is revived by stamping it before its expiry, after a
        // checkpoint showed that time had passed: refused.
        let (g, _) = try Fixture.withClaim()
        let release = g.releasePayload(claim: "c1", ["BTC": "100000000"], id: "old")   // expires 72 h after the start
        let releaseSignatures = try Payloads.sign(release, with: Array(g.delegates.prefix(4)))
        g.advance(seconds: 10 * 86_400)
        try g.checkpoint()   // witnessed: ten days after the start
        g.close()
        let raw = try LedgerStore.open(at: g.directory)
        let (revived, _) = try raw.append(kind: "release", time: Fixture.start.adding(seconds: 10 * 86_400)!, body: release, signatures: releaseSignatures)
        let expired = #expect(throws: FundError.self) { try Fund.verify(file: g.fund.file) }
        #expect(expired?.rule == .expired && expired?.seq == revived.seq)
        // A host that records the checkpoint with an early entry time, and then the revived
        // approval stamped before its expiry: the entry is before the witnessed time.
        let (h, _) = try Fixture.withClaim()
        let again = h.releasePayload(claim: "c1", ["BTC": "100000000"], id: "old")
        let againSignatures = try Payloads.sign(again, with: Array(h.delegates.prefix(4)))
        try h.checkpoint(at: Fixture.start.adding(seconds: 10 * 86_400)!)   // cosigned ten days on, recorded stamped now
        h.close()
        let lying = try LedgerStore.open(at: h.directory)
        let (backdated, _) = try lying.append(kind: "release", time: Fixture.start.adding(seconds: 3_600)!, body: again, signatures: againSignatures)
        let refusedBackdate = #expect(throws: FundError.self) { try Fund.verify(file: h.fund.file) }
        #expect(refusedBackdate?.rule == .timeBackwards && refusedBackdate?.seq == backdated.seq && refusedBackdate?.reason.contains("before the fund's witnessed time") == true, "\(refusedBackdate?.reason ?? "")")
    }

    @Test("a checkpoint refuses covered entries stamped after the witnesses saw them")
    func entriesAheadOfWitnesses() throws {
        let f = try Fixture()
        f.advance(seconds: 3_600)
        try f.admit("m")
        let early = refusal { try f.checkpoint(at: Fixture.start) }
        #expect(early?.rule == .timeAhead && early?.reason.contains("later than the witnesses saw it") == true, "\(early?.reason ?? "")")
        try f.checkpoint(at: f.now)
    }

    @Test("a genesis from before witnesses still verifies, with entry-time rules, and can adopt witnesses by a policy entry")
    func legacyFund() throws {
        let (f, _) = try Fixture.withClaim(witnesses: nil)
        #expect(f.state.witnesses == nil)
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"], id: "r1").objectValue!, id: "r1")
        #expect(refusal { try f.checkpoint() }?.reason.contains("names no witnesses") == true)
        f.advance(seconds: 86_400)
        try f.delegateAction(.settle, ["release": "r1", "reference": "tx"])
        let adopt = PolicyPayload(policy: f.state.policy, releaseDelaySeconds: f.state.releaseDelaySeconds, previous: (f.state.policy, f.state.releaseDelaySeconds), witnesses: .delegates)
        try f.delegateAction(.policy, adopt.fields)
        try f.checkpoint()
        let (state, _) = try Fund.verify(file: f.fund.file)
        #expect(state.witnesses == .delegates && state.checkpointSize > 0 && state == f.state)
    }

    @Test("a history rewritten by a copy holder, the chain re-hashed: a recorded checkpoint no longer matches, and a held one differs")
    func rewrittenHistory() throws {
        let f = try Fixture()
        try f.admit("m")
        f.advance(seconds: 60)
        try f.admit("n")
        try f.checkpoint()                   // covers genesis and the two admissions
        let held = f.fund.checkpoint()       // a checkpoint a member holds, of all four entries
        f.advance(seconds: 60)
        try f.admit("o")
        f.close()
        let original = try String(contentsOf: f.fund.file, encoding: .utf8).split(separator: "\n").map { Array($0.utf8) }
        // Rewrites entries with `change`, then re-links every later entry to the new hashes:
        // the chain is intact again, as anyone holding a copy can do.
        func rewritten(_ change: (inout [Entry]) throws -> Void) throws -> URL {
            var entries = try original.enumerated().map { try Entry.decode(line: $0.element, expectedSeq: Int64($0.offset)) }
            try change(&entries)
            var prev = [UInt8](repeating: 0, count: 32)
            var lines: [String] = []
            for (seq, entry) in entries.enumerated() {
                let linked = try Entry(seq: Int64(seq), prev: seq == 0 ? entry.prev : prev, time: entry.time, kind: entry.kind, body: entry.body, signatures: entry.signatures)
                prev = try Entry.hash(line: linked.line)
                lines.append(String(decoding: linked.line, as: UTF8.self))
            }
            let folder = f.directory.appendingPathComponent("copy-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let file = folder.appendingPathComponent(LedgerStore.ledgerFileName)
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
            return file
        }
        // Entry 2 re-timed to entry 1's time (times are signed by nobody): the recorded checkpoint refuses it.
        let retimed = try rewritten { entries in
            let e = entries[2]
            entries[2] = try Entry(seq: 2, prev: e.prev, time: entries[1].time, kind: e.kind, body: e.body, signatures: e.signatures)
        }
        let refused = #expect(throws: FundError.self) { try Fund.verify(file: retimed) }
        #expect(refused?.rule == .checkpointMismatch && refused?.seq == 3, "\(refused?.reason ?? "")")
        // The same, with the checkpoint entries dropped too: intact on its own, but not the
        // history of the checkpoint the member holds.
        let bare = try rewritten { entries in
            let e = entries[2]
            entries[2] = try Entry(seq: 2, prev: e.prev, time: entries[1].time, kind: e.kind, body: e.body, signatures: e.signatures)
            entries.removeAll { $0.kind == "checkpoint" }
        }
        let (state, _) = try Fund.verify(file: bare)
        #expect(state.members.count == 3 && state.checkpointSize == 0)
        #expect(try LedgerScan.root(file: bare, size: 3) != (try LedgerScan.root(file: f.fund.file, size: 3)))
        #expect(try LedgerScan.root(file: f.fund.file, size: held.size) == held.root)
        // Two admissions swapped: the chain re-hashed is intact, the held checkpoint's root is not.
        let swapped = try rewritten { entries in entries.swapAt(1, 2) }
        #expect(try LedgerScan.root(file: swapped, size: held.size) != held.root)
    }
}

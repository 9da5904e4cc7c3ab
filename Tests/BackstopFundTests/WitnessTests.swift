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
        let refusedSettle = #expect(throws: FundError.self) { try Fund.verify(file: f.fund.file!) }
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
        let expired = #expect(throws: FundError.self) { try Fund.verify(file: g.fund.file!) }
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
        let refusedBackdate = #expect(throws: FundError.self) { try Fund.verify(file: h.fund.file!) }
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
        let (state, _) = try Fund.verify(file: f.fund.file!)
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
        let original = try String(contentsOf: f.fund.file!, encoding: .utf8).split(separator: "\n").map { Array($0.utf8) }
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
        #expect(try LedgerScan.root(file: bare, size: 3) != (try LedgerScan.root(file: f.fund.file!, size: 3)))
        #expect(try LedgerScan.root(file: f.fund.file!, size: held.size) == held.root)
        // Two admissions swapped: the chain re-hashed is intact, the held checkpoint's root is not.
        let swapped = try rewritten { entries in entries.swapAt(1, 2) }
        #expect(try LedgerScan.root(file: swapped, size: held.size) != held.root)
    }

    /// A witness over the fixture's folder, with its state in the fixture's folder.
    func witness(_ f: Fixture, _ index: Int) -> Witness {
        let key = f.delegates[index]
        return Witness(key: .ecdsa(key), name: Cosigner.delegateName(key.publicKey), stateFile: f.directory.appendingPathComponent("witness-\(index).json"))
    }

    @Test("a witness refuses to cosign an entry stamped ahead of its clock, and one it had not seen stamped long before its last cosignature")
    func witnessGuardsTime() throws {
        let f = try Fixture()
        try f.admit("m")
        let w = witness(f, 0)
        _ = try w.cosign(SignedNote(text: f.fund.checkpoint().text), ledger: f.directory, time: f.now)
        // A host writing the file directly: an entry stamped two days ahead.
        let key = try f.admit("n")
        f.close()
        let store = try LedgerStore.open(at: f.directory)
        let payload = Payloads.make(ContributionPayload(member: "n", asset: "USDC", amount: Amount(1), period: 0, reference: "r"), for: f.state, expires: Timestamp("2027-01-01T00:00:00Z")!)
        try store.append(kind: "contribution", time: f.now.adding(seconds: 2 * 86_400)!, body: payload, signatures: try Payloads.sign(payload, with: [key]))
        store.close()
        let size = try LedgerScan.scan(file: f.fund.file!, verifySignatures: false).entryCount
        let ahead = Checkpoint(origin: Fund.origin(f.state.fundId), size: size, root: try #require(try LedgerScan.root(file: f.fund.file!, size: size)))
        let future = #expect(throws: CosignRefusal.self) { try w.cosign(SignedNote(text: ahead.text), ledger: f.directory, time: f.now) }
        #expect(future?.reason.contains("entry \(size - 1) is stamped 2026-01-03T00:00:00Z, ahead of this witness's clock") == true, "\(future?.reason ?? "")")
        // Two days later the same entry is no longer ahead: cosigned.
        _ = try w.cosign(SignedNote(text: ahead.text), ledger: f.directory, time: f.now.adding(seconds: 2 * 86_400)!)

        // A fresh fund: the witness cosigns at a time ten days on; the host then appends an
        // entry stamped (legitimately for the chain) nine days before that.
        let g = try Fixture()
        let member = try g.admit("m")
        let v = witness(g, 1)
        let tenDays = g.now.adding(seconds: 10 * 86_400)!
        _ = try v.cosign(SignedNote(text: g.fund.checkpoint().text), ledger: g.directory, time: tenDays)
        g.advance(seconds: 86_400)
        try g.contribute("m", key: member, asset: "USDC", amount: "1")
        let backdated = #expect(throws: CosignRefusal.self) { try v.cosign(SignedNote(text: g.fund.checkpoint().text), ledger: g.directory, time: tenDays.adding(seconds: 60)!) }
        #expect(backdated?.reason.contains("entry 2 is stamped 2026-01-02T00:00:00Z, but this witness's copy held only 2 entries at its cosignature at 2026-01-11T00:00:00Z") == true, "\(backdated?.reason ?? "")")
        // Its clock going back is refused too; another witness, without that memory, cosigns.
        #expect(throws: CosignRefusal.self) { try v.cosign(SignedNote(text: g.fund.checkpoint().text), ledger: g.directory, time: g.now) }
        _ = try witness(g, 2).cosign(SignedNote(text: g.fund.checkpoint().text), ledger: g.directory, time: g.now)
    }

    @Test("a witness's state that cannot be read is an error, not a fresh start; cosigning twice leaves one line")
    func witnessState() throws {
        let f = try Fixture()
        let w = witness(f, 0)
        var note = try w.cosign(SignedNote(text: f.fund.checkpoint().text), ledger: f.directory, time: f.now)
        note = try w.cosign(note, ledger: f.directory, time: f.now.adding(seconds: 1)!)
        #expect(note.signatures.count == 1)
        try FileManager.default.removeItem(at: w.stateFile)
        try FileManager.default.createDirectory(at: w.stateFile, withIntermediateDirectories: false)   // unreadable as a file
        let error = #expect(throws: LedgerError.self) { try w.cosign(note, ledger: f.directory, time: f.now) }
        #expect(error?.reason.contains("cannot read witness state") == true, "\(error?.reason ?? "")")
    }

    @Test("a lying witness's time at year 9999 refuses a settlement as too early, without a crash; high-S cosignatures are stored low-S")
    func extremeTimesAndHighS() throws {
        let witnesses = try (0..<2).map { _ in try Ed25519PrivateKey() }
        let policy = WitnessPolicy.cosigners(witnesses.enumerated().map { Cosigner(name: "w\($0.offset)", key: .ed25519($0.element.publicKey)) }, quorum: 2)
        let (f, _) = try Fixture.withClaim(witnesses: policy)
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"], id: "r1").objectValue!, id: "r1")
        var note = SignedNote(text: f.fund.checkpoint().text)
        note = note.adding(try witnesses[0].cosignature(name: "w0", text: note.text, time: f.now.secondsSinceEpoch))
        note = note.adding(try witnesses[1].cosignature(name: "w1", text: note.text, time: Timestamp("9999-12-31T23:00:00Z")!.secondsSinceEpoch))
        try f.fund.submitCheckpoint(note, time: f.now)
        let early = refusal { try f.delegateAction(.settle, ["release": "r1", "reference": "tx"]) }
        #expect(early?.rule == .tooEarly && early?.reason.contains("runs past year 9999") == true, "\(early?.reason ?? "")")

        // Delegates as witnesses, one cosignature turned into its high-S twin: stored low-S.
        let g = try Fixture()
        var cosigned = SignedNote(text: g.fund.checkpoint().text)
        for index in 0..<4 {
            let key = g.delegates[index]
            var signature = try key.cosignature(name: Cosigner.delegateName(key.publicKey), text: cosigned.text, time: g.now.secondsSinceEpoch)
            if index == 0 {
                let low = try ECDSASignature(derRepresentation: Array(signature.bytes.dropFirst(8)), curve: .p256, policy: .strict)
                let order = Hex.decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
                let high = try #require(ECDSASignature(r: low.r, s: bigEndianSubtract(order, low.s), curve: .p256))
                signature = SignedNote.Signature(name: signature.name, keyID: signature.keyID, bytes: Array(signature.bytes.prefix(8)) + high.derRepresentation)
            }
            cosigned = cosigned.adding(signature)
        }
        let entry = try g.fund.submitCheckpoint(cosigned, time: g.now)
        let stored = try #require(try Payload(entry.body).body as? CheckpointPayload).signatures
        for signature in stored {
            let der = Array(signature.bytes.dropFirst(8))
            #expect((try? ECDSASignature(derRepresentation: der, curve: .p256, policy: .strict)) != nil)
        }
        // A ledger holding the high-S form is refused by verify.
        g.close()
        var lines = try String(contentsOf: g.fund.file!, encoding: .utf8).split(separator: "\n").map(String.init)
        let lowText = Base64.encode(stored[0].keyID + stored[0].bytes)
        let low = try ECDSASignature(derRepresentation: Array(stored[0].bytes.dropFirst(8)), curve: .p256, policy: .strict)
        let order = Hex.decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
        let high = try #require(ECDSASignature(r: low.r, s: bigEndianSubtract(order, low.s), curve: .p256))
        let highText = Base64.encode(stored[0].keyID + Array(stored[0].bytes.prefix(8)) + high.derRepresentation)
        let last = lines.count - 1
        let entryValue = try Entry.decode(line: Array(lines[last].utf8), expectedSeq: Int64(last))
        let body = try JSONParser.parse(Array(lines[last].utf8))["body"]!
        let replaced = String(decoding: Canonical.encode(body), as: UTF8.self).replacingOccurrences(of: lowText, with: highText)
        let forged = try Entry(seq: entryValue.seq, prev: entryValue.prev, time: entryValue.time, kind: entryValue.kind, body: try JSONParser.parse(Array(replaced.utf8)), signatures: [])
        lines[last] = String(decoding: forged.line, as: UTF8.self)
        try (lines.joined(separator: "\n") + "\n").write(to: g.fund.file!, atomically: true, encoding: .utf8)
        let refused = #expect(throws: FundError.self) { try Fund.verify(file: g.fund.file!) }
        #expect(refused?.rule == .unauthorizedSigner && refused?.reason.contains("high-S") == true, "\(refused?.reason ?? "")")
    }
}

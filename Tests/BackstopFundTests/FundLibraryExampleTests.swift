import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// The fund example of Docs/LIBRARY.md, as written there (in a temporary folder).
@Test("the Docs/LIBRARY.md fund example runs")
func fundLibraryExample() throws {
    let scratch = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: scratch) }
    let folder = scratch.appendingPathComponent("fund")

    let delegates = try (0..<7).map { _ in try PrivateKey(generatingOn: .p256) }
    let now = Timestamp("2026-01-01T00:00:00Z")!
    let genesis = Payloads.genesis(
        expires: now.adding(seconds: 86_400)!, name: "Example fund", assets: [("BTC", 8), ("USDC", 6)],
        delegates: delegates.enumerated().map { Delegate(key: $0.element.publicKey, platform: "platform-\($0.offset)") },
        policy: ContributionPolicy(asset: "USDC", ratePerMillion: 100, floor: Amount(1_000_000_000),
                                   cap: Amount(100_000_000_000), periodSeconds: 2_592_000, graceSeconds: 604_800))
    let fund = try Fund.create(at: folder, genesis: genesis,
                               signatures: try Payloads.sign(genesis, with: Array(delegates.prefix(4))), time: now)

    let member = try PrivateKey(generatingOn: .p256)
    let admit = Payloads.make(AdmitPayload(member: "exchange-a", platform: "Exchange A", key: member.publicKey, size: .zero),
                              for: fund.state, expires: now.adding(seconds: 3_600)!)
    let payload = try Payload(admit)
    try fund.state.dryRun(payload, at: now)
    var screen = Screen(payload, state: nil)
    #expect(screen.rendered.contains("member:        exchange-a"))
    #expect(screen.signer(delegates[2].publicKey, payload: payload) == "delegate-3 (platform-2) of delegate set v1")
    try fund.submit(.admit, payload: admit, signatures: try Payloads.sign(admit, with: Array(delegates.prefix(4))), time: now)

    var refused: FundError? = nil
    do {
        let bytes = Canonical.encode(admit)
        let files = try delegates.prefix(3).map { try $0.signature(for: bytes).derRepresentation }
        try fund.submit(.admit, payloadBytes: bytes, signatureFiles: files, time: now)
    } catch let refusal as FundError {
        refused = refusal
    }
    #expect(refused?.rule == .threshold && refused?.reason.contains("found 3 valid") == true)
    #expect(try fund.recorded(payload) == 1)

    let amount = try Amount(decimal: "4836.26", decimals: 18)
    #expect(amount.description == "4836260000000000000000" && Words.amount(amount, decimals: 18) == "4,836.26")

    let (state, _) = try Fund.verify(file: folder.appendingPathComponent("ledger.jsonl"))
    #expect(state == fund.state && state.members["exchange-a"] != nil)

    // Witnesses, checkpoints and proofs.
    var note = SignedNote(text: fund.checkpoint().text)
    #expect(note.text.hasPrefix("backstop/\(Hex.encode(fund.state.fundId))\n2\n"))
    for (index, key) in delegates.prefix(4).enumerated() {
        let witness = Witness(key: .ecdsa(key), name: Cosigner.delegateName(key.publicKey),
                              stateFile: scratch.appendingPathComponent("witness-\(index).json"))
        note = try witness.cosign(note, ledger: folder, time: now)
    }
    #expect(note.signatures.count == 4)
    try fund.submitCheckpoint(note, time: now)
    #expect(fund.state.witnessedTime == now && fund.state.checkpointSize == 2)

    let point = try Checkpoint(text: note.text)
    let tiles = try MerkleTiles.forReading(ledger: folder, size: point.size)
    let proof = try Merkle.inclusionProof(index: 1, size: point.size, subtree: tiles.subtree)
    let line = try String(contentsOfFile: folder.appendingPathComponent("ledger.jsonl").path, encoding: .utf8).split(separator: "\n")[1]
    let leaf = try Entry.hash(line: Array(line.utf8))
    #expect(Merkle.verifyInclusion(leaf: leaf, index: 1, size: point.size, proof: proof, root: point.root))
    #expect(!Merkle.verifyInclusion(leaf: leaf, index: 0, size: point.size, proof: proof, root: point.root))

    // Many actions at once.
    let batch = try (1...3).map { n in
        let payload = Payloads.make(ContributionPayload(member: "exchange-a", asset: "USDC", amount: Amount(1_000_000),
                                                        period: fund.state.period(of: now), reference: "tx-\(n)"),
                                    for: fund.state, expires: now.adding(seconds: 3_600)!)
        return Fund.BatchItem(kind: .contribution, payload: payload, signatures: try Payloads.sign(payload, with: [member]))
    }
    let appended = try fund.submit(batch: batch, time: now)
    #expect(appended.map(\.seq) == [3, 4, 5])

    // Money that is really there.
    // The contributions are declarations: a receipt signed by the delegates confirms what
    // arrived (here 2.5 of the 3 USDC declared), and only that counts.
    let declared = fund.state.declarations.values.sorted { $0.seq < $1.seq }
    let receipt = Payloads.make(ReceiptPayload(confirmations: declared.map {
        .init(member: $0.member, contribution: $0.id, asset: $0.asset, received: $0.seq == 5 ? Amount(500_000) : $0.amount)
    }, reference: "bank statement"), for: fund.state, expires: now.adding(seconds: 3_600)!)
    try fund.submit(.receipt, payload: receipt, signatures: try Payloads.sign(receipt, with: Array(delegates.prefix(4))), time: now)
    #expect(fund.state.balances["USDC"]!.contributed == Amount(2_500_000) && fund.state.declarations.isEmpty)

    // What the wallets hold bounds every release; a restitution list lets each affected user
    // check their own share.
    let reserves = Payloads.make(ReservesPayload(asOf: now, holdings: [.init(asset: "USDC", amount: Amount(2_500_000), wallets: ["0xfund"])]),
                                 for: fund.state, expires: now.adding(seconds: 3_600)!)
    try fund.submit(.reserves, payload: reserves, signatures: try Payloads.sign(reserves, with: Array(delegates.prefix(4))), time: now)
    let list = try RestitutionList(rows: [.init(account: "alice@example.com", asset: "USDC", amount: Amount(1_500_000)),
                                          .init(account: "bob@example.com", asset: "USDC", amount: Amount(500_000))])
    let summary = list.summary(destination: "0xpool")           // root, count, totals, largest: what a release signs
    let bobsProof = try list.proof(for: "bob@example.com")           // Bob's file: his salt, amount and Merkle path
    #expect(summary.totals["USDC"] == Amount(2_000_000) && summary.largest["USDC"] == Amount(1_500_000) && bobsProof.isValid)
}

/// The stores example of Docs/LIBRARY.md, as written there.
@Test("the Docs/LIBRARY.md stores example runs")
func storageLibraryExample() throws {
    let name = "example-\(UUID().uuidString)"
    defer { MemoryStorage.discard(name: name) }
    let delegates = try (0..<7).map { _ in try PrivateKey(generatingOn: .p256) }
    let now = Timestamp("2026-01-01T00:00:00Z")!
    let genesis = Payloads.genesis(
        expires: now.adding(seconds: 86_400)!, name: "Example fund", assets: [("USDC", 6)],
        delegates: delegates.enumerated().map { Delegate(key: $0.element.publicKey, platform: "platform-\($0.offset)") },
        policy: ContributionPolicy(asset: "USDC", ratePerMillion: 100, floor: Amount(1_000_000_000),
                                   cap: Amount(100_000_000_000), periodSeconds: 2_592_000, graceSeconds: 604_800))
    let member = try PrivateKey(generatingOn: .p256)

    let storage = try MemoryStorage(name: name)
    let fund = try Fund.create(storage: storage, genesis: genesis,
                               signatures: try Payloads.sign(genesis, with: Array(delegates.prefix(4))), time: now)
    let admit = Payloads.make(AdmitPayload(member: "exchange-a", platform: "Exchange A", key: member.publicKey, size: .zero),
                              for: fund.state, expires: now.adding(seconds: 3_600)!)
    try fund.submit(.admit, payload: admit, signatures: try Payloads.sign(admit, with: Array(delegates.prefix(4))), time: now)
    // The lock is held: a second writer is refused until the fund closes.
    #expect((#expect(throws: LedgerError.self) { _ = try MemoryStorage(name: name) })?.code == .locked)
    fund.close()

    let again = try Fund.open(storage: try MemoryStorage(name: name), clock: { now })
    let reader = try MemoryStorage(name: name, forWriting: false)
    let (state, _) = try Fund.verify(storage: reader)
    #expect(state == again.state && state.entryCount == 2 && state.members["exchange-a"] != nil)
    #expect(again.checkpoint().root == state.frontier.root)

    let head = try reader.storedHead()
    let lines = try reader.lines(from: 0, count: 100)
    let lastHash = try Entry.hash(line: lines[1])
    #expect(head.count == 2 && lines.count == 2 && head.hash == lastHash)
    // The reopened fund appends where it left off; a reader cannot append.
    let second = Payloads.make(AdmitPayload(member: "exchange-b", platform: "Exchange B", key: try PrivateKey(generatingOn: .p256).publicKey, size: .zero),
                               for: again.state, expires: now.adding(seconds: 3_600)!)
    try again.submit(.admit, payload: second, signatures: try Payloads.sign(second, with: Array(delegates.prefix(4))), time: now)
    #expect(try reader.storedHead().count == 3)
    let refused = #expect(throws: LedgerError.self) { try reader.append([], expecting: head) }
    #expect(refused?.code == .io)
    again.close()
}

@testable import BackstopFund
import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// Money that is really there (rules version 2): receipts, reserve attestations, ids that
/// belong to their signer, restitution lists, the assessment registry, jurisdictions; and
/// a ledger made before them, which still verifies as it did.
@Suite("Money that is really there: receipts, reserves, per-signer ids, restitution lists, assessments")
struct MoneyTests {
    static let usdc1000 = "1000000000"

    /// A version-2 fund (entry-time rules, no witnesses) with member "big".
    func fund(_ safeguards: Safeguards = .defaults, start: Timestamp = Fixture.start) throws -> (Fixture, PrivateKey) {
        let f = try Fixture(witnesses: nil, version: 2, safeguards: safeguards, start: start)
        return (f, try f.admit("big"))
    }

    func receipt(_ f: Fixture, _ items: [(member: String, id: String, asset: String, received: String)]) throws {
        try f.delegateAction(.receipt, ["confirms": .array(items.map { ["member": .string($0.member), "contribution": .string($0.id), "asset": .string($0.asset), "received": .string($0.received)] }),
                                        "reference": "fund wallet statement"])
    }

    func reserves(_ f: Fixture, _ holdings: [String: String]) throws {
        try f.delegateAction(.reserves, ["asOf": .string(f.now.description), "holdings": .array(holdings.sorted { $0.key < $1.key }.map {
            ["asset": .string($0.key), "amount": .string($0.value), "wallets": ["fund-wallet"]]
        })])
    }

    // MARK: Receipts

    @Test("a self-declared contribution without a receipt raises neither available nor the dues paid; a receipt makes it count")
    func declarationCountsOnlyWhenConfirmed() throws {
        let (f, key) = try fund()
        try f.contribute("big", key: key, asset: "USDC", amount: Self.usdc1000, id: "pay-1")
        try f.contribute("big", key: key, asset: "BTC", amount: "300000000000000000000000000000000", id: "pay-huge")   // 3 x 10^24 BTC, "ref none"
        #expect(f.state.balances["USDC"]!.contributed == .zero && f.state.balances["USDC"]!.available == .zero)
        #expect(f.state.balances["BTC"]!.available == .zero)
        #expect(f.state.duesPaid["big"] == nil)
        #expect(f.state.memberMoney["big"]!["USDC"]!.declared == Amount(1_000_000_000) && f.state.memberMoney["big"]!["USDC"]!.unconfirmed == Amount(1_000_000_000))
        // Past the grace period, unconfirmed dues leave the member in arrears.
        let late = f.state.deadline(ofPeriod: 0)!.adding(seconds: 1)!
        #expect(f.state.periodInArrears(member: "big", at: late) == 0)
        // A release cannot use declared money.
        try f.memberClaim("big", key: key, losses: ["BTC": "100000000"], id: "c1")
        try reserves(f, ["BTC": "100000000"])
        #expect(refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"]).objectValue!) }?.rule == .overBalance)

        try receipt(f, [("big", "pay-1", "USDC", Self.usdc1000)])
        #expect(f.state.balances["USDC"]!.contributed == Amount(1_000_000_000))
        #expect(f.state.duesPaid["big"]?[0] == Amount(1_000_000_000) && f.state.periodInArrears(member: "big", at: late) == nil)
        #expect(f.state.memberMoney["big"]!["USDC"]!.confirmed == Amount(1_000_000_000) && f.state.memberMoney["big"]!["USDC"]!.unconfirmed == .zero)
        #expect(f.state.declarations.count == 1)   // the BTC declaration still waits
    }

    @Test("a receipt for less than declared counts only what was received; more than declared, twice, unknown or late is refused")
    func receiptRules() throws {
        let (f, key) = try fund()
        try f.contribute("big", key: key, asset: "USDC", amount: Self.usdc1000, id: "pay-1")
        let before = f.state
        #expect(refusal { try receipt(f, [("big", "pay-1", "USDC", "1000000001")]) }?.rule == .overReceipt)
        #expect(refusal { try receipt(f, [("big", "pay-1", "BTC", "1")]) }?.rule == .invalidParameter)
        #expect(refusal { try receipt(f, [("big", "pay-2", "USDC", "1")]) }?.rule == .unknownContribution)
        #expect(refusal { try receipt(f, [("other", "pay-1", "USDC", "1")]) }?.rule == .unknownContribution)
        #expect(f.state == before)
        try receipt(f, [("big", "pay-1", "USDC", "900000000")])
        #expect(f.state.balances["USDC"]!.contributed == Amount(900_000_000))
        #expect(f.state.duesPaid["big"]?[0] == Amount(900_000_000))
        #expect(f.state.memberMoney["big"]!["USDC"]!.confirmed == Amount(900_000_000) && f.state.memberMoney["big"]!["USDC"]!.closed == Amount(1_000_000_000))
        // 900 of the 1,000 USDC floor: in arrears once the grace period ends.
        #expect(f.state.periodInArrears(member: "big", at: f.state.deadline(ofPeriod: 0)!.adding(seconds: 1)!) == 0)
        #expect(refusal { try receipt(f, [("big", "pay-1", "USDC", "100000000")]) }?.rule == .unknownContribution)

        // Lapsed: not confirmed within the receipt deadline (30 days by default).
        try f.contribute("big", key: key, asset: "USDC", amount: Self.usdc1000, id: "pay-late")
        f.advance(seconds: 30 * 86_400 + 1)
        #expect(f.state.unconfirmed(member: "big", at: f.now).lapsed.map(\.id) == ["pay-late"])
        #expect(refusal { try receipt(f, [("big", "pay-late", "USDC", Self.usdc1000)]) }?.rule == .receiptLate)
        #expect(f.state.balances["USDC"]!.contributed == Amount(900_000_000))
    }

    @Test("a fund whose genesis predates receipts refuses a receipt: its contributions count when declared")
    func versionOneRefusesReceipts() throws {
        let f = try Fixture(witnesses: nil)
        let key = try f.admit("big")
        try f.contribute("big", key: key, asset: "USDC", amount: Self.usdc1000, id: "pay-1")
        #expect(f.state.version == 1 && f.state.balances["USDC"]!.contributed == Amount(1_000_000_000))
        #expect(refusal { try receipt(f, [("big", "pay-1", "USDC", Self.usdc1000)]) }?.rule == .wrongVersion)
    }

    // MARK: Reserves

    @Test("a release above the last attested reserves (less reserved and paid since) is refused; none attested refuses every release")
    func reservesBoundReleases() throws {
        let (f, key) = try fund()
        try f.contribute("big", key: key, asset: "BTC", amount: "5000000000", id: "btc")   // 50 BTC declared
        try receipt(f, [("big", "btc", "BTC", "5000000000")])
        try f.memberClaim("big", key: key, losses: ["BTC": "4000000000"], id: "c1")
        let noAttestation = refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"]).objectValue!) }
        #expect(noAttestation?.rule == .overReserves && noAttestation?.reason.contains("no reserves were ever attested") == true)
        try reserves(f, ["BTC": "1000000000"])                                            // the wallets hold 10 BTC, the books say 50
        #expect(refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "1100000000"]).objectValue!) }?.rule == .overReserves)
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "600000000"], id: "r1").objectValue!, id: "r1")
        #expect(f.state.attestedAvailable("BTC") == Amount(400_000_000))
        #expect(refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "500000000"]).objectValue!) }?.rule == .overReserves)
        f.advance(seconds: 86_400)
        try f.delegateAction(.settle, ["release": "r1", "reference": "paid"])
        #expect(f.state.paidSinceAttestation["BTC"] == Amount(600_000_000) && f.state.attestedAvailable("BTC") == Amount(400_000_000))
        #expect(refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "500000000"]).objectValue!) }?.rule == .overReserves)
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "400000000"]).objectValue!)
        // An attestation may not be dated after its entry, nor before the last one.
        #expect(refusal { try f.delegateAction(.reserves, ["asOf": .string(f.now.adding(seconds: 60)!.description), "holdings": [["asset": "BTC", "amount": "1", "wallets": ["w"]]]]) }?.rule == .invalidParameter)
        #expect(refusal { try f.delegateAction(.reserves, ["asOf": .string(Fixture.start.adding(seconds: -1)!.description), "holdings": [["asset": "BTC", "amount": "1", "wallets": ["w"]]]]) }?.rule == .invalidParameter)
    }

    // MARK: Ids

    @Test("ids belong to their signer: another member, a claim or the delegates cannot consume a member's id; a version-1 fund keeps one id space")
    func idsBelongToTheirSigner() throws {
        let (f, key) = try fund()
        let other = try f.admit("other")
        try f.contribute("other", key: other, asset: "USDC", amount: "1", id: "exchange-a-dues-0")      // squatting the id first
        let payload = Payloads.make(.contribution, for: f.state, id: "exchange-a-dues-0", expires: f.expiry, fields: [
            "member": "big", "asset": "USDC", "amount": .string(Self.usdc1000), "period": 0, "reference": "tx-real",
        ])
        #expect(try f.fund.recorded(try Payload(payload)) == nil)
        try f.fund.submit(.contribution, payload: payload, signatures: try Payloads.sign(payload, with: [key]), time: f.now)
        #expect(f.state.declarations[FundState.declarationKey(member: "big", id: "exchange-a-dues-0")]?.amount == Amount(1_000_000_000))
        // The identical re-submission is recognised as recorded; the same id with other fields is refused.
        #expect(try f.fund.recorded(try Payload(payload)) == f.state.entryCount - 1)
        #expect(refusal { try f.contribute("big", key: key, asset: "USDC", amount: "5", id: "exchange-a-dues-0") }?.rule == .replayedId)
        // A claim and a delegate action may use the same id: their scopes are their own.
        try f.memberClaim("big", key: key, losses: ["USDC": "1"], id: "exchange-a-dues-0")
        try f.delegateAction(.memberStatus, ["member": "other", "status": "active", "reason": "ok"], id: "exchange-a-dues-0")
        try receipt(f, [("big", "exchange-a-dues-0", "USDC", Self.usdc1000), ("other", "exchange-a-dues-0", "USDC", "1")])
        #expect(f.state.balances["USDC"]!.contributed == Amount(1_000_000_001))

        let old = try Fixture(witnesses: nil)
        let a = try old.admit("a"), b = try old.admit("b")
        try old.contribute("a", key: a, asset: "USDC", amount: "1", id: "shared")
        #expect(refusal { try old.contribute("b", key: b, asset: "USDC", amount: "1", id: "shared") }?.rule == .replayedId)
    }

    // MARK: Restitution lists

    /// An independent RFC 9162 MTH, recursive, for the restitution tree.
    func referenceRoot(_ leaves: [[UInt8]]) throws -> [UInt8] {
        if leaves.count == 1 { return leaves[0] }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        return try SHA256.hash([1] + (try referenceRoot(Array(leaves[..<k]))) + (try referenceRoot(Array(leaves[k...]))))
    }

    func rows(_ amounts: [Int]) -> [RestitutionList.Row] {
        amounts.enumerated().map { RestitutionList.Row(account: "user-\($0.offset)@example.com", asset: "BTC", amount: Amount(minorUnits: String($0.element))!) }
    }

    @Test("a restitution list: its root is RFC 9162's; each account's proof verifies; a tampered proof does not")
    func restitutionProofs() throws {
        for count in [1, 2, 3, 5, 8, 13, 100] {
            let list = try RestitutionList(rows: rows(Array(1...count)))
            #expect(list.root == (try referenceRoot(list.leafHashes)), "\(count) leaves")
            for row in list.rows {
                let proof = try list.proof(for: row.account)
                #expect(proof.isValid)
                #expect(try RestitutionProof(json: try JSONParser.parse(Canonical.encode(proof.json))) == proof)
                let item = proof.items[0]
                let tampered = [
                    RestitutionProof(account: proof.account, salt: proof.salt, root: proof.root, size: proof.size,
                                     items: [.init(asset: item.asset, amount: item.amount + Amount(1), index: item.index, path: item.path)]),
                    RestitutionProof(account: proof.account + "x", salt: proof.salt, root: proof.root, size: proof.size, items: proof.items),
                    RestitutionProof(account: proof.account, salt: proof.salt.map { $0 ^ 1 }, root: proof.root, size: proof.size, items: proof.items),
                    RestitutionProof(account: proof.account, salt: proof.salt, root: proof.root, size: proof.size,
                                     items: [.init(asset: "ETH", amount: item.amount, index: item.index, path: item.path)]),
                ] + (item.path.isEmpty ? [] : [
                    RestitutionProof(account: proof.account, salt: proof.salt, root: proof.root, size: proof.size,
                                     items: [.init(asset: item.asset, amount: item.amount, index: item.index, path: [item.path[0].map { $0 ^ 0x80 }] + item.path.dropFirst())]),
                    RestitutionProof(account: proof.account, salt: proof.salt, root: proof.root, size: proof.size,
                                     items: [.init(asset: item.asset, amount: item.amount, index: (item.index + 1) % Int64(count), path: item.path)]),
                ])
                for bad in tampered { #expect(!bad.isValid, "tampered proof of \(count) leaves accepted") }
            }
        }
        // Salted: the same account and amount in two lists hash differently.
        let one = try RestitutionList(rows: rows([5])), two = try RestitutionList(rows: rows([5]))
        #expect(one.leafHashes != two.leafHashes)
        #expect(throws: FundError.self) { try RestitutionList(rows: rows([1]) + rows([2])) }   // an account twice in one asset
    }

    @Test("a release's restitution list must total its payouts to the destination, and its largest amount stay within the cap")
    func restitutionRules() throws {
        var caps = Safeguards.defaults
        caps.accountCaps = ["BTC": Amount(50)]
        let (f, key) = try fund(caps)
        try f.contribute("big", key: key, asset: "BTC", amount: "1000", id: "btc")
        try receipt(f, [("big", "btc", "BTC", "1000")])
        try reserves(f, ["BTC": "1000"])
        try f.memberClaim("big", key: key, losses: ["BTC": "1000"], id: "c1")
        func release(_ list: RestitutionList, pay: [(String, String)], id: String = Payloads.newId()) throws {
            let payouts = pay.map { Payout(asset: "BTC", amount: Amount(minorUnits: $0.1)!, payee: "claimants", destination: $0.0) }
            try f.delegateAction(.release, Payloads.make(ReleasePayload(claim: "c1", payouts: payouts, restitution: list.summary(destination: "pool")), for: f.state, id: id, expires: f.expiry).objectValue!, id: id)
        }
        let list = try RestitutionList(rows: rows([10, 20, 30]))          // 60 in total, 30 at most
        #expect(refusal { try release(list, pay: [("pool", "59")]) }?.rule == .restitutionMismatch)
        #expect(refusal { try release(list, pay: [("pool", "60"), ("pool", "1")]) }?.rule == .restitutionMismatch)
        #expect(refusal { try release(list, pay: [("elsewhere", "60")]) }?.rule == .restitutionMismatch)
        let overCap = try RestitutionList(rows: rows([10, 51]))
        let capped = refusal { try release(overCap, pay: [("pool", "61")]) }
        #expect(capped?.rule == .overAccountCap && capped?.reason.contains("above the policy's cap") == true)
        try release(list, pay: [("pool", "60"), ("other-wallet", "5")], id: "r1")
        let recorded = try #require(f.state.release(restitutionRoot: list.root, size: 3))
        #expect(recorded.id == "r1" && recorded.restitution?.largest["BTC"] == Amount(30))
        // More accounts than the claim says were affected.
        let crowd = try RestitutionList(rows: rows(Array(repeating: 1, count: 484)))
        #expect(refusal { try release(crowd, pay: [("pool", "484")]) }?.rule == .restitutionMismatch)
    }

    // MARK: Assessments

    @Test("the assessment schedule: two founding assessors, a periodic one within 3 months then every 6, never the same assessor within 14 months")
    func assessmentSchedule() throws {
        let (f, key) = try fund(start: Timestamp("2023-01-01T00:00:00Z")!)   // 2 years of schedule before today
        let firms = try (1...3).map { _ in try PrivateKey(generatingOn: .p256) }
        for (index, firm) in firms.enumerated() {
            try f.delegateAction(.assessor, ["assessor": .string("a\(index + 1)"), "firm": .string("Firm \(index + 1)"), "key": .string(Hex.encode(firm.publicKey.derRepresentation)), "active": true])
        }
        func assess(_ assessor: Int, _ kind: Assessment.Kind, on date: Timestamp, signers: [PrivateKey]? = nil) throws {
            if f.now < date { f.now = date }
            let payload = Payloads.make(AssessmentPayload(member: "big", assessor: "a\(assessor)", date: date, kind: kind, report: String(repeating: "ab", count: 32)), for: f.state, expires: f.expiry)
            try f.fund.submit(.assessment, payload: payload, signatures: try Payloads.sign(payload, with: signers ?? [key, firms[assessor - 1]]), time: f.now)
        }
        let start = f.state.members["big"]!.admittedAt
        #expect(f.state.assessmentSchedule(member: "big").due == start.adding(months: 1))
        #expect(refusal { try assess(1, .founding, on: start, signers: [key]) }?.rule == .unauthorizedSigner)
        #expect(refusal { try assess(1, .founding, on: start, signers: [firms[0]]) }?.rule == .unauthorizedSigner)
        try assess(1, .founding, on: start)
        // Missing second founding assessment: flagged, and a periodic one cannot stand in for it.
        let one = f.state.assessmentSchedule(member: "big")
        #expect(!one.pairComplete && one.needs == "a second founding assessment, by another assessor" && one.due == start.adding(months: 1))
        #expect(refusal { try assess(2, .periodic, on: start) }?.rule == .assessmentOrder)
        #expect(refusal { try assess(1, .founding, on: start.adding(seconds: 86_400)!) }?.rule == .assessorTooRecent)
        let second = start.adding(seconds: 10 * 86_400)!
        try assess(2, .founding, on: second)
        #expect(f.state.assessmentSchedule(member: "big").pairComplete && f.state.assessmentSchedule(member: "big").due == second.adding(months: 3))
        #expect(refusal { try assess(3, .founding, on: second) }?.rule == .assessmentOrder)
        // Late periodic assessment: overdue until it is recorded, then due 6 months after it.
        let late = second.adding(months: 4)!
        #expect(f.state.assessmentSchedule(member: "big").due! < late)
        try assess(3, .periodic, on: late)
        #expect(f.state.assessmentSchedule(member: "big").due == late.adding(months: 6))
        // The same assessor again: refused before 14 months, accepted from then.
        #expect(refusal { try assess(1, .periodic, on: start.adding(months: 14)!.adding(seconds: -1)!) }?.rule == .assessorTooRecent)
        try assess(1, .periodic, on: start.adding(months: 14)!)
        #expect(refusal { try assess(2, .periodic, on: start.adding(months: 13)!) }?.rule == .assessmentOrder)   // before the last one's date
        // A declared major upgrade starts a new cycle that needs two assessors again.
        try assess(2, .majorUpgrade, on: second.adding(months: 15)!)
        #expect(!f.state.assessmentSchedule(member: "big").pairComplete && f.state.assessmentSchedule(member: "big").cycle == .majorUpgrade)
        #expect(f.state.assessmentSchedule(member: "big").needs == "a second major-upgrade assessment, by another assessor")
        #expect(f.state.assessmentSchedule(member: "big").due == second.adding(months: 15)!.adding(months: 1))
        // An unregistered or retired assessor.
        #expect(refusal { try f.fund.submit(.assessment, payload: Payloads.make(AssessmentPayload(member: "big", assessor: "nobody", date: f.now, kind: .periodic, report: String(repeating: "ab", count: 32)), for: f.state, expires: f.expiry), signatures: [], time: f.now) }?.rule == .unknownAssessor)
    }

    @Test("with the policy flag, a member whose assessments are overdue cannot file a claim; without it, it can")
    func claimsNeedAssessments() throws {
        let (f, key) = try fund()
        let p = f.state.policy
        let free = ContributionPolicy(asset: p.asset, ratePerMillion: 0, floor: .zero, cap: .zero, periodSeconds: p.periodSeconds, graceSeconds: p.graceSeconds)
        try f.delegateAction(.policy, ["policy": free.json, "releaseDelaySeconds": .integer(f.state.releaseDelaySeconds)])   // no dues, so no arrears
        #expect(f.state.assessmentSchedule(member: "big").due == nil)   // no assessor registered yet: nothing is due
        let firm = try PrivateKey(generatingOn: .p256)
        try f.delegateAction(.assessor, ["assessor": "a1", "firm": "Firm", "key": .string(Hex.encode(firm.publicKey.derRepresentation)), "active": true])
        f.advance(seconds: 40 * 86_400)   // the founding pair was due a month after the first assessor was registered
        #expect(f.state.assessmentSchedule(member: "big").due! < f.now)
        try f.memberClaim("big", key: key, losses: ["USDC": "1"], id: "before-flag")
        var strict = f.state.safeguards
        strict.claimsNeedAssessments = true
        try f.delegateAction(.policy, ["policy": free.json, "releaseDelaySeconds": .integer(f.state.releaseDelaySeconds), "safeguards": strict.json])
        let refused = refusal { try f.memberClaim("big", key: key, losses: ["USDC": "1"], id: "after-flag") }
        #expect(refused?.rule == .assessmentOverdue)
    }

    // MARK: What a hostile member, host or petitioner tried (review of the first version)

    @Test("an attestation observed before the last settlement is refused: it would forget what was paid since")
    func staleAttestation() throws {
        let (f, key) = try fund()
        try f.contribute("big", key: key, asset: "BTC", amount: "1000", id: "btc")
        try receipt(f, [("big", "btc", "BTC", "1000")])
        let observed = f.now
        try reserves(f, ["BTC": "1000"])
        try f.memberClaim("big", key: key, losses: ["BTC": "1000"], id: "c1")
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "600"], id: "r1").objectValue!, id: "r1")
        f.advance(seconds: 86_400)
        try f.delegateAction(.settle, ["release": "r1", "reference": "paid"])
        #expect(f.state.attestedAvailable("BTC") == Amount(400))
        let replayed = refusal { try f.delegateAction(.reserves, ["asOf": .string(observed.adding(seconds: 1)!.description), "holdings": [["asset": "BTC", "amount": "1000", "wallets": ["w"]]]]) }
        #expect(replayed?.rule == .invalidParameter && replayed?.reason.contains("before the settlement recorded at") == true)
        #expect(f.state.attestedAvailable("BTC") == Amount(400))
    }

    @Test("a restitution summary no list could have (total above largest x leaves, more amounts than accounts x assets) is refused")
    func impossibleSummary() throws {
        var caps = Safeguards.defaults
        caps.accountCaps = ["BTC": Amount(50)]
        let (f, key) = try fund(caps)
        try f.contribute("big", key: key, asset: "BTC", amount: "1000", id: "btc")
        try receipt(f, [("big", "btc", "BTC", "1000")])
        try reserves(f, ["BTC": "1000"])
        try f.memberClaim("big", key: key, losses: ["BTC": "1000"], id: "c1")
        func release(_ summary: RestitutionSummary) -> FundError? {
            refusal { try f.delegateAction(.release, Payloads.make(ReleasePayload(claim: "c1", payouts: [Payout(asset: "BTC", amount: summary.totals["BTC"]!, payee: "p", destination: "pool")], restitution: summary), for: f.state, expires: f.expiry).objectValue!) }
        }
        let root = String(repeating: "ab", count: 32)
        #expect(release(RestitutionSummary(root: root, leaves: 2, accounts: 2, destination: "pool", totals: ["BTC": Amount(1000)], largest: ["BTC": Amount(30)]))?.rule == .restitutionMismatch)
        #expect(release(RestitutionSummary(root: root, leaves: 40, accounts: 20, destination: "pool", totals: ["BTC": Amount(800)], largest: ["BTC": Amount(30)]))?.rule == .restitutionMismatch)
        #expect(release(RestitutionSummary(root: root, leaves: 20, accounts: 20, destination: "pool", totals: ["BTC": Amount(600)], largest: ["BTC": Amount(30)])) == nil)
    }

    @Test("one key cannot be both a member's and an assessor's; a major upgrade cannot replace the founding pair")
    func assessorTricks() throws {
        let (f, key) = try fund()
        let firm = try PrivateKey(generatingOn: .p256)
        try f.delegateAction(.assessor, ["assessor": "a1", "firm": "Firm", "key": .string(Hex.encode(firm.publicKey.derRepresentation)), "active": true])
        #expect(refusal { try f.delegateAction(.admit, ["member": "selfie", "platform": "Selfie", "key": .string(Hex.encode(firm.publicKey.derRepresentation)), "size": "0"]) }?.rule == .duplicateKey)
        #expect(refusal { try f.delegateAction(.assessor, ["assessor": "a2", "firm": "Firm 2", "key": .string(Hex.encode(key.publicKey.derRepresentation)), "active": true]) }?.rule == .duplicateKey)
        let other = try PrivateKey(generatingOn: .p256)
        try f.delegateAction(.assessor, ["assessor": "a2", "firm": "Firm 2", "key": .string(Hex.encode(other.publicKey.derRepresentation)), "active": true])
        func assess(_ assessor: String, _ signer: PrivateKey, _ kind: Assessment.Kind) throws {
            let payload = Payloads.make(AssessmentPayload(member: "big", assessor: assessor, date: f.now, kind: kind, report: String(repeating: "ab", count: 32)), for: f.state, expires: f.expiry)
            try f.fund.submit(.assessment, payload: payload, signatures: try Payloads.sign(payload, with: [key, signer]), time: f.now)
        }
        try assess("a1", firm, .founding)
        #expect(refusal { try assess("a2", other, .majorUpgrade) }?.rule == .assessmentOrder)
        try assess("a2", other, .founding)
        #expect(f.state.assessmentSchedule(member: "big").pairComplete)
    }

    @Test("a petition's id is derived from its content in a version-2 fund; a member claim cannot take the petition- prefix")
    func petitionIds() throws {
        let (f, key) = try fund()
        let users = try (0..<100).map { _ in try PrivateKey(generatingOn: .p256) }
        let body = ClaimPayload(member: nil, platform: "Broker", description: "drained", incidentTime: Fixture.start, accounts: 3, losses: ["USDC": Amount(5)], evidence: [])
        let chosen = Payloads.make(body, for: f.state, id: "my-petition", expires: f.expiry)
        let refused = refusal { try f.fund.submit(.claim, payload: chosen, signatures: try Payloads.sign(chosen, with: users), time: f.now) }
        #expect(refused?.rule == .invalidParameter && refused?.reason.contains("derived from its content") == true)
        let derived = Payloads.petition(body, for: f.state, expires: f.expiry)
        let id = try #require(derived["id"]?.stringValue)
        #expect(id == ClaimPayload.petitionId(chosen) && id.hasPrefix("petition-"))
        #expect(refusal { try f.memberClaim("big", key: key, losses: ["USDC": "1"], id: id) }?.rule == .invalidParameter)
        try f.fund.submit(.claim, payload: derived, signatures: try Payloads.sign(derived, with: users), time: f.now)
        #expect(f.state.claims[id]?.petitioners == 100)
    }

    @Test("two policy drafts made from the same safeguards: the second is stale, not a silent undo")
    func policyRace() throws {
        let (f, _) = try fund()
        var capped = f.state.safeguards, strict = f.state.safeguards
        capped.accountCaps = ["BTC": Amount(5)]
        strict.claimsNeedAssessments = true
        let before = f.state
        func draft(_ safeguards: Safeguards) -> JSONValue {
            Payloads.make(PolicyPayload(policy: before.policy, releaseDelaySeconds: before.releaseDelaySeconds, previous: (before.policy, before.releaseDelaySeconds),
                                        safeguards: safeguards, previousSafeguards: before.safeguards), for: before, expires: f.expiry)
        }
        let first = draft(capped), second = draft(strict)
        try f.fund.submit(.policy, payload: first, signatures: try Payloads.sign(first, with: Array(f.delegates.prefix(4))), time: f.now)
        #expect(refusal { try f.fund.submit(.policy, payload: second, signatures: try Payloads.sign(second, with: Array(f.delegates.prefix(4))), time: f.now) }?.rule == .staleState)
        #expect(f.state.safeguards.accountCaps == ["BTC": Amount(5)])
    }

    @Test("a lapsed declaration stays lapsed when a policy later lengthens the receipt deadline")
    func lapsedStaysLapsed() throws {
        let (f, key) = try fund()
        try f.contribute("big", key: key, asset: "USDC", amount: Self.usdc1000, id: "late")
        f.advance(seconds: 31 * 86_400)
        var longer = f.state.safeguards
        longer.receiptSeconds = 31_536_000
        try f.delegateAction(.policy, ["policy": f.state.policy.json, "releaseDelaySeconds": .integer(f.state.releaseDelaySeconds), "safeguards": longer.json])
        #expect(refusal { try receipt(f, [("big", "late", "USDC", Self.usdc1000)]) }?.rule == .receiptLate)
        #expect(f.state.unconfirmed(member: "big", at: f.now).lapsed.map(\.id) == ["late"])
    }

    @Test("a proof file that repeats an item is refused")
    func repeatedProofItems() throws {
        let list = try RestitutionList(rows: rows([5, 6]))
        var json = try list.proof(for: "user-0@example.com").json.objectValue!
        json["items"] = .array(json["items"]!.arrayValue! + json["items"]!.arrayValue!)
        #expect(throws: FundError.self) { try RestitutionProof(json: .object(json)) }
    }

    // MARK: Jurisdictions

    @Test("a policy makes membership mandatory in a jurisdiction; status lists its registered platforms that are not members")
    func jurisdictions() throws {
        let (f, _) = try fund()
        let key = try PrivateKey(generatingOn: .p256)
        try f.delegateAction(.admit, ["member": "sg-1", "platform": "Lion Exchange", "key": .string(Hex.encode(key.publicKey.derRepresentation)), "size": "0", "jurisdiction": "SG"])
        var safeguards = f.state.safeguards
        safeguards.mandatoryJurisdictions = ["SG"]
        try f.delegateAction(.policy, ["policy": f.state.policy.json, "releaseDelaySeconds": .integer(f.state.releaseDelaySeconds), "safeguards": safeguards.json])
        #expect(f.state.missingMembers.isEmpty)   // no registry yet
        try f.delegateAction(.registry, ["jurisdiction": "SG", "asOf": .string(f.now.description), "platforms": ["Lion Exchange", "Tiger Broker", "Platform big"]])
        let missing = f.state.missingMembers
        #expect(missing.count == 1 && missing[0].jurisdiction == "SG" && missing[0].platforms == ["Tiger Broker", "Platform big"])   // big has no jurisdiction
        #expect(f.state.members["sg-1"]?.jurisdiction == "SG")
    }

    // MARK: Existing ledgers and snapshots

    @Test("a ledger made before this issue (rules version 1) still verifies, with the same balances, and takes new entries under its own rules")
    func ledgerFromBefore() throws {
        let fixture = packageRoot.appendingPathComponent("Tests/Fixtures/ledger-before-issue-9/ledger.jsonl")
        let (state, result) = try Fund.verify(file: fixture)
        #expect(result.entryCount == 24 && state.version == 1 && state.safeguards == .defaults)
        #expect(Hex.encode(state.fundId) == "aee8e6ffcef0225756d6bd50d6c7a15c8b5a1f688d96ddad9ba8a2a1c9c239d2")
        #expect(state.balances["ETH"]!.contributed == Amount(minorUnits: "2500000000000000000000")! && state.balances["ETH"]!.paid == Amount(minorUnits: "1500000000000000000000")!)
        #expect(state.balances["USDC"]!.available == Amount(141_800_000_000))
        #expect(state.declarations.isEmpty && state.reserves == nil && state.claims["breach-2022-01"] != nil)
    }

    @Test("every state of a version-2 fund with every new kind survives the snapshot encoding")
    func snapshotRoundTrip() throws {
        var safeguards = Safeguards.defaults
        safeguards.accountCaps = ["BTC": Amount(100)]
        let (f, key) = try fund(safeguards)
        let firm = try PrivateKey(generatingOn: .p256)
        try f.contribute("big", key: key, asset: "BTC", amount: "1000", id: "btc")
        try f.contribute("big", key: key, asset: "USDC", amount: "7", id: "pending")
        try receipt(f, [("big", "btc", "BTC", "900")])
        try reserves(f, ["BTC": "900"])
        try f.memberClaim("big", key: key, losses: ["BTC": "1000"], id: "c1")
        let list = try RestitutionList(rows: rows([10, 20]))
        try f.delegateAction(.release, Payloads.make(ReleasePayload(claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(30), payee: "p", destination: "pool")], restitution: list.summary(destination: "pool")), for: f.state, expires: f.expiry).objectValue!, id: "r1")
        f.advance(seconds: 86_400)
        try f.delegateAction(.settle, ["release": "r1", "reference": "paid"])
        try f.delegateAction(.assessor, ["assessor": "a1", "firm": "Firm", "key": .string(Hex.encode(firm.publicKey.derRepresentation)), "active": true])
        let assessment = Payloads.make(AssessmentPayload(member: "big", assessor: "a1", date: f.now, kind: .founding, report: String(repeating: "ab", count: 32)), for: f.state, expires: f.expiry)
        try f.fund.submit(.assessment, payload: assessment, signatures: try Payloads.sign(assessment, with: [key, firm]), time: f.now)
        try f.delegateAction(.registry, ["jurisdiction": "SG", "asOf": .string(f.now.description), "platforms": ["X"]])
        var checked = 0
        _ = try Fund.verify(file: f.fund.file!, willApply: { _, state in
            #expect((try? FundState(snapshot: state.snapshotJSON, usedIds: state.usedIds)) == state, "state after \(state.entryCount) entries")
            checked += 1
        })
        #expect(try FundState(snapshot: f.state.snapshotJSON, usedIds: f.state.usedIds) == f.state)
        #expect(checked == Int(f.state.entryCount) - 1 && f.state.reserves != nil && f.state.assessments["big"]?.count == 1 && f.state.declarations.count == 1)
    }

    @Test("calendar months: the day is clamped to the month's last, years roll over, and year 9999 ends it")
    func months() {
        #expect(Timestamp("2022-01-31T10:00:00Z")!.adding(months: 1) == Timestamp("2022-02-28T10:00:00Z"))
        #expect(Timestamp("2024-01-31T00:00:00Z")!.adding(months: 1) == Timestamp("2024-02-29T00:00:00Z"))
        #expect(Timestamp("2021-11-15T00:00:00Z")!.adding(months: 14) == Timestamp("2023-01-15T00:00:00Z"))
        #expect(Timestamp("2022-03-31T00:00:00Z")!.adding(months: -1) == Timestamp("2022-02-28T00:00:00Z"))
        #expect(Timestamp("9999-12-01T00:00:00Z")!.adding(months: 1) == nil)
    }
}

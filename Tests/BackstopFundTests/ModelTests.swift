import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// A small model of the fund's rules, written apart from them: plain integers and
/// dictionaries, one line per rule. Random actions of every entry kind go to both; after
/// each step they must agree on whether it was accepted and on the money, members, claims,
/// releases, reserves, assessors and registries.
private struct Model {
    struct Claim { var member: String?; var platform: String; var losses: [String: Int]; var committed: [String: Int] = [:]; var paid: [String: Int] = [:]; var rejected = false }
    struct Release { var claim: String; var asset: String; var amount: Int; var status = "pending"; var payableAt: Int64; var delay: Int64; var witnessedAt: Int64? = nil }

    var members: [String: (key: PrivateKey, active: Bool)] = [:]
    var pending: [String: (asset: String, amount: Int, deadline: Int64)] = [:]
    var contributed: [String: Int] = [:], reserved: [String: Int] = [:], paid: [String: Int] = [:]
    var claims: [String: Claim] = [:] { didSet { claimOrder = claims.keys.filter { !claimOrder.contains($0) }.sorted() + claimOrder.filter { claims[$0] != nil } } }
    var releases: [String: Release] = [:]
    /// Claims in the order they were filed (their ids may derive from random keys: sorting
    /// them would make a seed's run differ from one run to the next).
    var claimOrder: [String] = []
    var attested: [String: Int]? = nil
    var paidSince: [String: Int] = [:]
    var lastSettled: Int64? = nil
    var assessors: [String: PrivateKey] = [:]
    var assessments: [String: [(assessor: String, time: Int64)]] = [:]
    var registries = Set<String>()
    var delay: Int64 = 86_400
    var receiptSeconds: Int64 = 30 * 86_400
    var usedIds = Set<String>()
    var checkpoints = 0
    /// Witnesses adopted (by a policy entry): checkpoints are accepted, and the release
    /// delay runs in witnessed time, from the first checkpoint that includes the release.
    var witnesses = false
    var witnessedTime: Int64? = nil

    func available(_ asset: String) -> Int { (contributed[asset] ?? 0) - (reserved[asset] ?? 0) - (paid[asset] ?? 0) }
    func attestedRoom(_ asset: String) -> Int? {
        guard let attested else { return nil }
        return (attested[asset] ?? 0) - (paidSince[asset] ?? 0) - (reserved[asset] ?? 0)
    }
    func openPetitions(_ platform: String? = nil) -> Int {
        claims.values.filter { c in c.member == nil && !c.rejected && c.losses.contains { (c.committed[$0.key] ?? 0) < $0.value } && (platform == nil || c.platform == platform) }.count
    }
}

@Suite("The rules against an independent model, every entry kind")
struct ModelTests {
    static let assets = ["BTC", "USDC"]

    @Test("random actions of every kind: the model and the fund agree after every step; together the runs accept every kind")
    func agree() throws {
        var all = Set<EntryKind>()
        for seed in [11, 12, 13, 14] as [UInt64] { all.formUnion(try run(seed: seed)) }
        #expect(all == Set(EntryKind.allCases).subtracting([.genesis]), "kinds never accepted: \(Set(EntryKind.allCases).subtracting(all).subtracting([.genesis]))")
    }

    /// One seeded run; returns the kinds it saw accepted.
    func run(seed: UInt64) throws -> Set<EntryKind> {
        var random = SplitMix64(state: seed)
        // Two years before today at most, so that no entry is ahead of the clock.
        let f = try Fixture(petitionThreshold: 1, witnesses: nil, version: 2, start: Timestamp("2024-01-01T00:00:00Z")!)
        var m = Model()
        // No dues, so that arrears (tested elsewhere) stay out of the model.
        let free = ContributionPolicy(asset: "USDC", ratePerMillion: 0, floor: .zero, cap: .zero, periodSeconds: Fixture.policy.periodSeconds, graceSeconds: 0)
        try f.delegateAction(.policy, ["policy": free.json, "releaseDelaySeconds": .integer(m.delay)])
        let petitioner = try PrivateKey(generatingOn: .p256)
        var kindsAccepted = Set<EntryKind>()
        var accepted = 0, refused = 0

        for step in 0..<320 {
            f.advance(seconds: Int64.random(in: 0...(2 * 86_400), using: &random))
            let now = f.now.secondsSinceEpoch
            let memberId = ["a", "b", "c", "d"].randomElement(using: &random)!
            let asset = (Self.assets + ["XRP"]).randomElement(using: &random)!
            let amount = Int.random(in: 0...400, using: &random)
            let id = "x\(Int.random(in: 0...40, using: &random))"
            let claimId = m.claimOrder.randomElement(using: &random) ?? "none"
            let releaseId = m.releases.keys.sorted().randomElement(using: &random) ?? "none"
            var kind = EntryKind.allCases.filter { $0 != .genesis }.randomElement(using: &random)!
            if step < 8 { kind = [.admit, .admit, .admit, .contribution, .receipt, .reserves, .claim, .release][step] }
            if step == 150 { kind = .policy }   // adopts the delegates as witnesses
            if step > 150 && step % 7 == 0 { kind = .checkpoint }
            var expect = false
            var effect: (inout Model) -> Void = { _ in }
            let before = f.state
            do {
                switch kind {
                case .admit:
                    let key = try PrivateKey(generatingOn: .p256)
                    expect = m.members[memberId] == nil && !m.usedIds.contains("delegates admit \(id)")
                    effect = { $0.members[memberId] = (key, true); $0.usedIds.insert("delegates admit \(id)") }
                    try f.delegateAction(.admit, ["member": .string(memberId), "platform": .string("Platform \(memberId)"), "key": .string(Hex.encode(key.publicKey.derRepresentation)), "size": "0"], id: id)
                case .memberStatus:
                    let active = Bool.random(using: &random)
                    expect = m.members[memberId] != nil && !m.usedIds.contains("delegates member-status \(id)")
                    effect = { $0.members[memberId]!.active = active; $0.usedIds.insert("delegates member-status \(id)") }
                    try f.delegateAction(.memberStatus, ["member": .string(memberId), "status": .string(active ? "active" : "suspended"), "reason": "r"], id: id)
                case .memberKey:
                    guard let current = m.members[memberId] else { continue }
                    let key = try PrivateKey(generatingOn: .p256)
                    expect = !m.usedIds.contains("delegates member-key \(id)")
                    effect = { $0.members[memberId]!.key = key; $0.usedIds.insert("delegates member-key \(id)") }
                    let payload = Payloads.make(MemberKeyPayload(member: memberId, key: key.publicKey, previousKey: current.key.publicKey.fingerprint), for: f.state, id: id, expires: f.expiry)
                    try f.fund.submit(.memberKey, payload: payload, signatures: try Payloads.sign(payload, with: [current.key] + Array(f.delegates.prefix(4))), time: f.now)
                case .contribution:
                    guard let member = m.members[memberId] else { continue }
                    expect = Self.assets.contains(asset) && amount > 0 && !m.usedIds.contains("member \(memberId) \(id)")
                    let deadline = now + m.receiptSeconds
                    effect = { $0.pending["\(memberId) \(id)"] = (asset, amount, deadline); $0.usedIds.insert("member \(memberId) \(id)") }
                    try f.contribute(memberId, key: member.key, asset: asset, amount: String(amount), period: 0, id: id)
                case .receipt:
                    var picked = Array(m.pending.keys.sorted().shuffled(using: &random).prefix(3))
                    if picked.isEmpty || Int.random(in: 0..<5, using: &random) == 0 { picked.append("a bogus") }
                    var confirms: [JSONValue] = []
                    var ok = !m.usedIds.contains("delegates receipt \(id)")
                    var received: [(String, Int)] = []
                    for key in picked {
                        let parts = key.split(separator: " ").map(String.init)
                        let declared = m.pending[key]
                        let got = Int.random(in: 0...((declared?.amount ?? 5) + (Bool.random(using: &random) ? 0 : 2)), using: &random)
                        confirms.append(["member": .string(parts[0]), "contribution": .string(parts[1]), "asset": .string(declared?.asset ?? "BTC"), "received": .string(String(got))])
                        if let declared { ok = ok && got <= declared.amount && now <= declared.deadline } else { ok = false }
                        received.append((key, got))
                    }
                    expect = ok
                    effect = { model in
                        for (key, got) in received {
                            let asset = model.pending.removeValue(forKey: key)!.asset
                            model.contributed[asset, default: 0] += got
                        }
                        model.usedIds.insert("delegates receipt \(id)")
                    }
                    try f.delegateAction(.receipt, ["confirms": .array(confirms), "reference": "statement"], id: id)
                case .reserves:
                    let holdings = Dictionary(uniqueKeysWithValues: Self.assets.map { ($0, m.available($0) + (m.reserved[$0] ?? 0) + Int.random(in: -150...150, using: &random)) }).mapValues { max(0, $0) }
                    expect = !m.usedIds.contains("delegates reserves \(id)") && (m.lastSettled.map { now >= $0 } ?? true)
                    effect = { $0.attested = holdings; $0.paidSince = [:]; $0.usedIds.insert("delegates reserves \(id)") }
                    try f.delegateAction(.reserves, ["asOf": .string(f.now.description), "holdings": .array(holdings.sorted { $0.key < $1.key }.map {
                        ["asset": .string($0.key), "amount": .string(String($0.value)), "wallets": ["w"]]
                    })], id: id)
                case .claim:
                    let losses = [asset: max(amount, 1) * 3]
                    if Bool.random(using: &random), let member = m.members[memberId] {
                        expect = member.active && Self.assets.contains(asset) && !m.usedIds.contains("claims \(id)")
                        effect = { $0.claims[id] = Model.Claim(member: memberId, platform: "Platform \(memberId)", losses: losses); $0.usedIds.insert("claims \(id)") }
                        try f.memberClaim(memberId, key: member.key, losses: [asset: String(losses[asset]!)], id: id)
                    } else {
                        let platform = ["Broker C", "Broker D"].randomElement(using: &random)!
                        let body = ClaimPayload(member: nil, platform: platform, description: "d\(step)", incidentTime: Fixture.start, accounts: 5,
                                                losses: [asset: Amount(minorUnits: String(losses[asset]!))!], evidence: [])
                        let payload = Payloads.petition(body, for: f.state, expires: f.expiry)
                        let petitionId = payload["id"]!.stringValue!
                        expect = Self.assets.contains(asset) && m.openPetitions(platform) < 3 && m.openPetitions() < 64
                        effect = { $0.claims[petitionId] = Model.Claim(member: nil, platform: platform, losses: losses); $0.usedIds.insert("claims \(petitionId)") }
                        try f.fund.submit(.claim, payload: payload, signatures: try Payloads.sign(payload, with: [petitioner]), time: f.now)
                    }
                case .reject:
                    let claim = m.claims[claimId]
                    expect = claim != nil && !claim!.rejected && !m.releases.values.contains { $0.claim == claimId && $0.status == "pending" } && !m.usedIds.contains("delegates reject \(id)")
                    effect = { $0.claims[claimId]!.rejected = true; $0.usedIds.insert("delegates reject \(id)") }
                    try f.delegateAction(.reject, ["claim": .string(claimId), "reason": "no"], id: id)
                case .release:
                    // Mostly a payout the claim could take: its asset, a small amount.
                    let claim = m.claims[claimId]
                    let asset = Int.random(in: 0..<4, using: &random) == 0 ? asset : (claim?.losses.keys.first ?? asset)
                    var amount = Int.random(in: 0..<4, using: &random) == 0 ? amount : Int.random(in: 1...30, using: &random)
                    // Sometimes right at a bound: the attested room, the available balance.
                    switch Int.random(in: 0..<6, using: &random) {
                    case 0: amount = max(1, (m.attestedRoom(asset) ?? 1) + Int.random(in: -2...3, using: &random))
                    case 1: amount = max(1, m.available(asset) + Int.random(in: -2...3, using: &random))
                    default: break
                    }
                    let loss = claim?.losses[asset] ?? 0
                    expect = claim != nil && !claim!.rejected && Self.assets.contains(asset) && amount > 0
                        && (claim!.committed[asset] ?? 0) + amount <= loss && amount <= m.available(asset)
                        && (m.attestedRoom(asset).map { amount <= $0 } ?? false) && !m.usedIds.contains("delegates release \(id)")
                    let payable = now + m.delay
                    effect = {
                        $0.reserved[asset, default: 0] += amount
                        $0.claims[claimId]!.committed[asset, default: 0] += amount
                        $0.releases[id] = Model.Release(claim: claimId, asset: asset, amount: amount, payableAt: payable, delay: payable - now)
                        $0.usedIds.insert("delegates release \(id)")
                    }
                    try f.delegateAction(.release, f.releasePayload(claim: claimId, [asset: String(amount)], id: id).objectValue!, id: id)
                case .settle, .cancel:
                    let release = m.releases[releaseId]
                    let settle = kind == .settle
                    let due: Bool
                    if !m.witnesses {
                        due = release.map { now >= $0.payableAt } ?? false
                    } else {
                        due = release.flatMap { r in r.witnessedAt.flatMap { seen in m.witnessedTime.map { $0 >= seen + r.delay } } } ?? false
                    }
                    expect = release?.status == "pending" && (!settle || due) && !m.usedIds.contains("delegates \(kind.rawValue) \(id)")
                    effect = { model in
                        let r = model.releases[releaseId]!
                        model.reserved[r.asset]! -= r.amount
                        if settle {
                            model.paid[r.asset, default: 0] += r.amount
                            model.claims[r.claim]!.paid[r.asset, default: 0] += r.amount
                            if model.attested != nil { model.paidSince[r.asset, default: 0] += r.amount }
                            model.lastSettled = now
                        } else {
                            model.claims[r.claim]!.committed[r.asset]! -= r.amount
                        }
                        model.releases[releaseId]!.status = settle ? "settled" : "cancelled"
                        model.usedIds.insert("delegates \(kind.rawValue) \(id)")
                    }
                    try f.delegateAction(kind, settle ? ["release": .string(releaseId), "reference": "tx"] : ["release": .string(releaseId), "reason": "r"], id: id)
                case .rotate:
                    // The same delegates, so that the rest of the run can still sign.
                    expect = !m.usedIds.contains("delegates rotate \(id)")
                    effect = { $0.usedIds.insert("delegates rotate \(id)") }
                    let state = f.state
                    let payload = Payloads.make(RotatePayload(delegates: state.delegates.reversed(), threshold: 4, petitionThreshold: 1), for: state, id: id, expires: f.expiry)
                    try f.fund.submit(.rotate, payload: payload, signatures: try Payloads.sign(payload, with: Array(f.delegates.prefix(4))), time: f.now)
                case .policy:
                    let delay = Int64.random(in: 0...7_200, using: &random)
                    let adopt = step == 150
                    let policyId = adopt ? "adopt-witnesses" : id
                    expect = !m.usedIds.contains("delegates policy \(policyId)")
                    effect = { $0.delay = delay; $0.usedIds.insert("delegates policy \(policyId)"); if adopt { $0.witnesses = true } }
                    try f.delegateAction(.policy, ["policy": free.json, "releaseDelaySeconds": .integer(delay)].merging(adopt ? ["witnesses": "delegates"] : [:]) { a, _ in a }, id: adopt ? "adopt-witnesses" : id)
                case .checkpoint:
                    expect = m.witnesses
                    effect = { model in
                        model.checkpoints += 1
                        model.witnessedTime = now
                        for (rid, r) in model.releases where r.status == "pending" && r.witnessedAt == nil { model.releases[rid]!.witnessedAt = now }
                    }
                    try f.checkpoint()
                case .assessor:
                    let key = try PrivateKey(generatingOn: .p256)
                    let assessor = "firm-\(step % 5)"
                    expect = !m.usedIds.contains("delegates assessor \(id)")
                    effect = { $0.assessors[assessor] = key; $0.usedIds.insert("delegates assessor \(id)") }
                    try f.delegateAction(.assessor, ["assessor": .string(assessor), "firm": "Firm", "key": .string(Hex.encode(key.publicKey.derRepresentation)), "active": true], id: id)
                case .assessment:
                    guard let member = m.members[memberId], let (assessor, key) = m.assessors.sorted(by: { $0.key < $1.key }).randomElement(using: &random) else { continue }
                    let history = m.assessments[memberId] ?? []
                    let pair = Set(history.prefix(while: { _ in true }).map(\.assessor)).count >= 2
                    let again = history.contains { $0.assessor == assessor && now < Timestamp(secondsSinceEpoch: $0.time)!.adding(months: 14)!.secondsSinceEpoch }
                    expect = !again && !m.usedIds.contains("member \(memberId) assessments \(id)")
                    effect = { $0.assessments[memberId, default: []].append((assessor, now)); $0.usedIds.insert("member \(memberId) assessments \(id)") }
                    let payload = Payloads.make(AssessmentPayload(member: memberId, assessor: assessor, date: f.now, kind: pair ? .periodic : .founding, report: String(repeating: "ab", count: 32)),
                                                for: f.state, id: id, expires: f.expiry)
                    try f.fund.submit(.assessment, payload: payload, signatures: try Payloads.sign(payload, with: [member.key, key]), time: f.now)
                case .registry:
                    let code = ["SG", "EE"].randomElement(using: &random)!
                    expect = !m.usedIds.contains("delegates registry \(id)")
                    effect = { $0.registries.insert(code); $0.usedIds.insert("delegates registry \(id)") }
                    try f.delegateAction(.registry, ["jurisdiction": .string(code), "asOf": .string(f.now.description), "platforms": ["X"]], id: id)
                case .genesis:
                    continue
                }
                #expect(expect, "step \(step): \(kind) accepted, the model refuses it")
                if expect { effect(&m) }
                accepted += 1
                kindsAccepted.insert(kind)
            } catch let error as FundError {
                #expect(!expect, "step \(step): \(kind) refused (\(error)), the model accepts it")
                #expect(f.state == before, "step \(step): a refused \(kind) changed the state")
                refused += 1
            }
            // The projections agree.
            let s = f.state
            for asset in Self.assets {
                let balance = s.balances[asset]!
                #expect(balance.contributed.description == String(m.contributed[asset] ?? 0), "step \(step) \(asset) contributed")
                #expect(balance.reserved.description == String(m.reserved[asset] ?? 0), "step \(step) \(asset) reserved")
                #expect(balance.paid.description == String(m.paid[asset] ?? 0), "step \(step) \(asset) paid")
            }
            #expect(Set(s.members.keys) == Set(m.members.keys) && s.members.allSatisfy { $0.value.key == m.members[$0.key]!.key.publicKey && ($0.value.status == .active) == m.members[$0.key]!.active })
            #expect(Set(s.declarations.keys) == Set(m.pending.keys), "step \(step) declarations")
            #expect(Set(s.claims.keys) == Set(m.claims.keys) && s.claims.allSatisfy { id, claim in
                let model = m.claims[id]!
                return (claim.status == .rejected) == model.rejected && claim.committed.mapValues(\.description) == model.committed.mapValues(String.init)
                    && claim.paid.mapValues(\.description) == model.paid.mapValues(String.init)
            }, "step \(step) claims")
            #expect(Set(s.releases.keys) == Set(m.releases.keys) && s.releases.allSatisfy { $0.value.status.rawValue == m.releases[$0.key]!.status }, "step \(step) releases")
            #expect(s.reserves?.holdings.mapValues(\.description) == m.attested.map { $0.mapValues(String.init) }, "step \(step) attestation")
            #expect(Set(s.assessors.keys) == Set(m.assessors.keys) && s.assessments.mapValues(\.count) == m.assessments.mapValues(\.count), "step \(step) assessments")
            #expect(Set(s.registries.keys) == m.registries && s.releaseDelaySeconds == m.delay, "step \(step) registries, delay")
        }
        let (replayed, _) = try Fund.verify(file: f.fund.file!)
        #expect(replayed == f.state)
        print("seed \(seed): \(accepted) accepted, \(refused) refused; kinds accepted: \(kindsAccepted.count) of \(EntryKind.allCases.count - 1)")
        #expect(kindsAccepted.count >= 14 && accepted > 60 && refused > 20)
        return kindsAccepted
    }
}

import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Signing screens and the fields that make them readable without a ledger")
struct ScreenTests {
    /// Every kind's typed payload, built from a fund that has a claim, a release and a member.
    func everyKind(_ f: Fixture, member: PrivateKey) throws -> [any PayloadBody] {
        let newKey = try PrivateKey(generatingOn: .secp256k1).publicKey
        var policy = f.state.policy
        policy = ContributionPolicy(asset: policy.asset, ratePerMillion: 200, floor: policy.floor, cap: policy.cap, periodSeconds: policy.periodSeconds, graceSeconds: 86_400)
        return [
            AdmitPayload(member: "new", platform: "New Platform", key: newKey, size: Amount(5_000_000)),
            MemberStatusPayload(member: "big", status: .suspended, reason: "audit overdue"),
            MemberKeyPayload(member: "big", key: newKey, previousKey: member.publicKey.fingerprint),
            ContributionPayload(member: "big", asset: "USDC", amount: Amount(1_000_000), period: 0, reference: "tx-1"),
            ClaimPayload(member: nil, platform: "Broker", description: "drained", incidentTime: Fixture.start, accounts: 3, losses: ["USDC": Amount(5)], evidence: []),
            RejectPayload(claim: "c1", reason: "no"),
            ReleasePayload(claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(150_000_000), payee: "victims", destination: "bc1qv")]),
            CancelPayload(release: "r1", reason: "changed"),
            SettlePayload(release: "r1", reference: "tx"),
            RotatePayload(delegates: Array(f.state.delegates.prefix(6)) + [Delegate(key: newKey, platform: "Newcomer")], threshold: 4, petitionThreshold: 50),
            PolicyPayload(policy: policy, releaseDelaySeconds: 3_600, previous: (f.state.policy, f.state.releaseDelaySeconds)),
            CheckpointPayload(size: 2, root: [UInt8](repeating: 7, count: 32), signatures: [SignedNote.Signature(name: "w", keyID: [1, 2, 3, 4], bytes: [5])], proof: []),
            ReceiptPayload(confirmations: [.init(member: "big", contribution: "pay-1", asset: "USDC", received: Amount(900_000))], reference: "statement"),
            ReservesPayload(asOf: Fixture.start, holdings: [.init(asset: "BTC", amount: Amount(5_000_000_000), wallets: ["bc1qfund", "bc1qcold"])]),
            AssessorPayload(assessor: "firm-1", firm: "Firm One", key: newKey),
            AssessmentPayload(member: "big", assessor: "firm-1", date: Fixture.start, kind: .founding, report: String(repeating: "cd", count: 32)),
            RegistryPayload(jurisdiction: "SG", asOf: Fixture.start, platforms: ["Platform big", "Lion Exchange"]),
        ]
    }

    @Test("every kind: the payload it writes reads back as the same fields (one definition to read, build and show)")
    func roundTrip() throws {
        let (f, member) = try Fixture.withClaim()
        let bodies = try everyKind(f, member: member)
        #expect(Set(bodies.map { type(of: $0).kind }) == Set(EntryKind.allCases.filter { $0 != .genesis }))
        for body in bodies {
            let json = Payloads.make(body, for: f.state, expires: f.expiry)
            let payload = try Payload(json)
            #expect(payload.kind == type(of: body).kind)
            #expect(Canonical.encode(.object(payload.body.fields)) == Canonical.encode(.object(body.fields)), "\(payload.kind)")
            let screen = Screen(payload, state: nil)
            #expect(screen.rendered.count > 4, "\(payload.kind)")
        }
    }

    @Test("offline: amounts in units, durations and the policy in words, and whom the key signs as")
    func offlineScreen() throws {
        let (f, member) = try Fixture.withClaim()
        let release = try Payload(Payloads.make(ReleasePayload(claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(150_000_000_000), payee: "victims", destination: "bc1qv")]), for: f.state, expires: f.expiry))
        var screen = Screen(release, state: nil)
        #expect(screen.rendered.contains("payout 1:      1,500 BTC"))
        #expect(screen.signer(f.delegates[2].publicKey, payload: release) == "delegate-3 (platform-3) of delegate set v1")
        #expect(screen.warnings.isEmpty)
        let stranger = try PrivateKey(generatingOn: .p256).publicKey
        #expect(screen.signer(stranger, payload: release).contains("NOT a signer"))
        #expect(screen.warnings.first?.contains("is not one that may sign this payload") == true)

        let policy = try Payload(Payloads.make(try everyKind(f, member: member)[10], for: f.state, expires: f.expiry))
        let lines = Screen(policy, state: nil).rendered
        #expect(lines.contains("rate:          0.01% of declared size -> 0.02% of declared size"))
        #expect(lines.contains("floor:         1,000 USDC (unchanged)"))
        #expect(lines.contains("grace:         7 days -> 24 hours"))
        #expect(lines.contains("release delay: 24 hours -> 1 hour"))

        let rotate = try Payload(Payloads.make(try everyKind(f, member: member)[9], for: f.state, expires: f.expiry))
        let rotation = Screen(rotate, state: nil).rendered
        #expect(rotation.contains { $0.hasPrefix("delegate-7:    platform-7 \(f.state.delegates[6].key.fingerprint) -> Newcomer ") })
        #expect(rotation.contains { $0.hasPrefix("delegate-1:") && $0.hasSuffix("(unchanged)") })

        let keyChange = try Payload(Payloads.make(try everyKind(f, member: member)[2], for: f.state, expires: f.expiry))
        #expect(Screen(keyChange, state: nil).rendered.contains { $0.hasPrefix("key:           \(member.publicKey.fingerprint) -> ") })
    }

    @Test("an older payload without units or roster still verifies, and its screen says what it cannot show")
    func olderPayload() throws {
        let (f, _) = try Fixture.withClaim()
        var fields = Payloads.release(for: f.state, expires: f.expiry, claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(1), payee: "v", destination: "a")]).objectValue!
        fields["units"] = nil
        fields["roster"] = nil
        let payload = try Payload(.object(fields))
        let screen = Screen(payload, state: nil)
        #expect(screen.rendered.contains("payout 1:      1 BTC minor units (decimals unknown)"))
        #expect(screen.warnings.contains { $0.contains("does not state the decimals of BTC") })
        #expect(screen.warnings.contains { $0.contains("does not name the delegates") })
        try f.fund.submit(.release, payload: .object(fields), signatures: try Payloads.sign(.object(fields), with: Array(f.delegates.prefix(4))), time: f.now)
        #expect(f.state.balances["BTC"]?.reserved == Amount(1))
    }

    @Test("payloads that do not state what a screen needs say so: an admit without units, a key change without previousKey")
    func missingContext() throws {
        let (f, member) = try Fixture.withClaim()
        var admit = Payloads.make(AdmitPayload(member: "n", platform: "N", key: try PrivateKey(generatingOn: .p256).publicKey, size: Amount(500_000_000)),
                                  for: f.state, expires: f.expiry).objectValue!
        admit["units"] = nil
        let admitScreen = Screen(try Payload(.object(admit)), state: nil)
        #expect(admitScreen.warnings.contains { $0.contains("does not state the dues asset or its decimals") })
        var keyChange = Payloads.make(MemberKeyPayload(member: "big", key: try PrivateKey(generatingOn: .p256).publicKey, previousKey: nil), for: f.state, expires: f.expiry)
            .objectValue!
        keyChange["previousKey"] = nil
        let payload = try Payload(.object(keyChange))
        var screen = Screen(payload, state: nil)
        #expect(screen.warnings.contains { $0.contains("does not state the key it replaces") })
        // The member's own key cannot be told offline: not "NOT a signer".
        #expect(screen.signer(member.publicKey, payload: payload).contains("cannot tell"))
        var mixed = Screen(try Payload(Payloads.make(ReleasePayload(claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(1), payee: "Еxchange A", destination: "a")]),
                                                     for: f.state, expires: f.expiry)), state: nil)
        #expect(mixed.warnings.contains { $0.contains("payee mixes Latin and Cyrillic letters") })
        _ = mixed.signer(f.delegates[0].publicKey, payload: try Payload(Payloads.make(RejectPayload(claim: "c1", reason: "r"), for: f.state, expires: f.expiry)))
    }

    @Test("units, roster and previous values that do not match the fund are refused")
    func mismatches() throws {
        let (f, member) = try Fixture.withClaim()
        func submit(_ fields: [String: JSONValue], _ kind: EntryKind, signers: [PrivateKey]) -> FundError? {
            refusal { try f.fund.submit(kind, payload: .object(fields), signatures: try Payloads.sign(.object(fields), with: signers), time: f.now) }
        }
        let four = Array(f.delegates.prefix(4))
        var release = Payloads.release(for: f.state, expires: f.expiry, claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(1), payee: "v", destination: "a")]).objectValue!
        release["units"] = ["BTC": 2]
        #expect(submit(release, .release, signers: four)?.rule == .wrongUnits)
        release["units"] = ["BTC": 8, "ETH": 18]
        #expect(submit(release, .release, signers: four)?.reason.contains("units names ETH, which the payload does not use") == true)
        release["units"] = ["BTC": 8]
        var roster = f.state.roster
        roster[2] = RosterEntry(fingerprint: roster[3].fingerprint, platform: roster[2].platform)
        release["roster"] = .array(roster.map { ["fingerprint": .string($0.fingerprint), "platform": .string($0.platform)] })
        let wrongRoster = submit(release, .release, signers: four)
        #expect(wrongRoster?.rule == .wrongDelegateSet && wrongRoster?.reason.contains("delegate-3") == true)

        // Platforms in the roster are compared byte for byte: an NFD spelling of the same
        // name is another roster.
        let cafe = try Fixture()
        var renamed = Payloads.make(.memberStatus, for: cafe.state, expires: cafe.expiry, fields: ["member": "x", "status": "active", "reason": "r"]).objectValue!
        var cafeRoster = cafe.state.roster
        cafeRoster[0] = RosterEntry(fingerprint: cafeRoster[0].fingerprint, platform: "platform-1\u{301}")
        renamed["roster"] = .array(cafeRoster.map { ["fingerprint": .string($0.fingerprint), "platform": .string($0.platform)] })
        #expect(cafeRoster != cafe.state.roster)
        #expect(refusal { try cafe.fund.submit(.memberStatus, payload: .object(renamed), signatures: try Payloads.sign(.object(renamed), with: Array(cafe.delegates.prefix(4))), time: cafe.now) }?.rule == .wrongDelegateSet)

        let stalePolicy = PolicyPayload(policy: f.state.policy, releaseDelaySeconds: 60,
                                        previous: (f.state.policy, 7_200))
        #expect(submit(Payloads.make(stalePolicy, for: f.state, expires: f.expiry).objectValue!, .policy, signers: four)?.rule == .staleState)
        let staleKey = MemberKeyPayload(member: "big", key: try PrivateKey(generatingOn: .p256).publicKey, previousKey: String(repeating: "ab", count: 32))
        #expect(submit(Payloads.make(staleKey, for: f.state, expires: f.expiry).objectValue!, .memberKey, signers: [member] + four)?.rule == .staleState)
    }

    @Test("the one-line summaries of log name what each entry did and who signed")
    func summaries() throws {
        let (f, _) = try Fixture.withClaim()
        let before = f.state
        let entry = try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "150000000"], id: "r1").objectValue!, signers: [0, 2, 3, 5], id: "r1")
        #expect(before.summary(of: entry) == "release r1 for claim c1: 1.5 BTC -> addr-BTC; payable from 2026-01-02T00:00:00Z; signed by delegate-1, -3, -4, -6")
    }
}

import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// The extreme values a hostile or careless input can reach: every one is a refusal with a
/// code or an accepted entry, never a trap.
@Suite("Extreme values: year 9999, 10^40 minor units, the signature and line limits")
struct ExtremesTests {
    static let last = Timestamp("9999-12-31T23:59:59Z")!

    @Test("a fund in the last hour of year 9999: contributions, claims, releases and screens refuse or work, and never trap")
    func yearNineThousand() throws {
        let directory = try makeTemporaryDirectory("backstop-9999")
        defer { try? FileManager.default.removeItem(at: directory) }
        let start = Timestamp("9999-12-31T23:00:00Z")!
        let delegates = try (0..<7).map { _ in try PrivateKey(generatingOn: .p256) }
        let genesis = Payloads.genesis(expires: Self.last, name: "Last fund", assets: [("BTC", 8)],
                                       delegates: delegates.enumerated().map { Delegate(key: $0.element.publicKey, platform: "p\($0.offset)") },
                                       policy: ContributionPolicy(asset: "BTC", ratePerMillion: 1_000_000, floor: .zero, cap: Amount(minorUnits: "10000000000000000000000000000000000000000")!,
                                                                  periodSeconds: 315_360_000, graceSeconds: 315_360_000 * 12),
                                       releaseDelaySeconds: 31_536_000, witnesses: nil)
        let fund = try Fund.create(at: directory, genesis: genesis, signatures: try Payloads.sign(genesis, with: Array(delegates.prefix(4))), time: start, clock: { Self.last })
        let member = try PrivateKey(generatingOn: .p256)
        func submit(_ body: some PayloadBody, signers: [PrivateKey], id: String = Payloads.newId()) throws {
            let payload = Payloads.make(body, for: fund.state, id: id, expires: Self.last)
            try fund.submit(type(of: body).kind, payload: payload, signatures: try Payloads.sign(payload, with: signers), time: Self.last)
        }
        let huge = Amount(minorUnits: "10000000000000000000000000000000000000000")!   // 10^40, the most one amount may be
        try submit(AdmitPayload(member: "m", platform: "M", key: member.publicKey, size: huge), signers: Array(delegates.prefix(4)))
        for index in 0..<3 { try submit(ContributionPayload(member: "m", asset: "BTC", amount: huge, period: 0, reference: "r"), signers: [member], id: "c\(index)") }
        try submit(ReceiptPayload(confirmations: (0..<3).map { .init(member: "m", contribution: "c\($0)", asset: "BTC", received: huge) }, reference: "s"), signers: Array(delegates.prefix(4)))
        #expect(fund.state.balances["BTC"]!.contributed.description == "30000000000000000000000000000000000000000")
        try submit(ReservesPayload(asOf: Self.last, holdings: [.init(asset: "BTC", amount: huge, wallets: ["w"])]), signers: Array(delegates.prefix(4)))
        try submit(ClaimPayload(member: "m", platform: "M", description: "d", incidentTime: Self.last, accounts: JSONValue.maximumInteger, losses: ["BTC": huge], evidence: []),
                   signers: [member], id: "claim")
        // A release whose delay would run past 9999 is a refusal, not a trap.
        let release = ReleasePayload(claim: "claim", payouts: [Payout(asset: "BTC", amount: huge, payee: "p", destination: "d")])
        let refused = refusal { try submit(release, signers: Array(delegates.prefix(4))) }
        #expect(refused?.rule == .invalidParameter && refused?.reason.contains("past year 9999") == true)
        // The schedule, the screens and the summaries of the last second.
        #expect(fund.state.assessmentSchedule(member: "m").due == nil)
        #expect(fund.state.periodInArrears(member: "m", at: Self.last) == nil)
        #expect(fund.state.start(ofPeriod: Int64.max) == nil && fund.state.deadline(ofPeriod: Int64.max - 1) == nil)
        let screen = Screen(try Payload(Payloads.make(release, for: fund.state, expires: Self.last)), state: fund.state)
        #expect(screen.rendered.contains { $0.contains("100,000,000,000,000,000,000,000,000,000,000 BTC") })
        #expect(try Fund.verify(file: fund.file!).0 == fund.state)
    }

    @Test("amounts: 10^40 is the most, in payloads and as typed; the sum of many is exact")
    func amounts() throws {
        #expect(Amount(minorUnits: "10000000000000000000000000000000000000000") != nil)
        #expect(throws: FundError.self) { try Amount(decimal: "100000000000000000000000000000000.00000001", decimals: 8) }
        var sum = Amount.zero
        for _ in 0..<1_000 { sum += Amount(minorUnits: "10000000000000000000000000000000000000000")! }
        #expect(sum.description == "1" + String(repeating: "0", count: 43))
    }
}

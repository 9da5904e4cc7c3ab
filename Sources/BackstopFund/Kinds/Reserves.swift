import BackstopLedger

/// A reserve attestation (proof of reserves): what the fund's wallets held per asset at a
/// time, with the wallet addresses. Signed by the delegate threshold. A release may not
/// reserve more than the last attestation shows, less what is reserved and what was paid
/// since.
public struct ReservesPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.reserves

    /// What one asset's wallets held.
    public struct Holding: Sendable, Hashable {
        /// The asset.
        public let asset: String
        /// The total held, in minor units.
        public let amount: Amount
        /// The wallet addresses holding it.
        public let wallets: [String]

        /// A holding.
        public init(asset: String, amount: Amount, wallets: [String]) {
            self.asset = asset
            self.amount = amount
            self.wallets = wallets
        }
    }

    /// When the wallets were observed (not after the entry, not before the last attestation).
    public let asOf: Timestamp
    /// Per asset, what was held.
    public let holdings: [Holding]

    /// An attestation.
    public init(asOf: Timestamp, holdings: [Holding]) {
        self.asOf = asOf
        self.holdings = holdings
    }

    init(reading r: inout FieldReader) throws(FundError) {
        asOf = try r.time("asOf")
        var holdings: [Holding] = []
        for (index, item) in try r.array("holdings", count: FundLimits.assets).enumerated() {
            let holding = try readObject(item, context: "reserves holding \(index + 1)") { (h: inout FieldReader) throws(FundError) in
                let asset = try h.assetSymbol("asset")
                let amount = try h.amount("amount", allowZero: true)
                var wallets: [String] = []
                for wallet in try h.array("wallets", count: 1...256) {
                    guard let text = wallet.stringValue, Identifiers.isDestination(text) else {
                        throw h.invalid("wallets", "an array of addresses: 1 to 200 visible ASCII characters, no spaces")
                    }
                    wallets.append(text)
                }
                return Holding(asset: asset, amount: amount, wallets: wallets)
            }
            guard !holdings.contains(where: { $0.asset == holding.asset }) else { throw FundError(.invalidParameter, "reserves: asset \(holding.asset) is listed twice") }
            holdings.append(holding)
        }
        self.holdings = holdings
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        ["asOf": .string(asOf.description), "holdings": .array(holdings.map {
            ["asset": .string($0.asset), "amount": .string($0.amount.description), "wallets": .array($0.wallets.map(JSONValue.string))]
        })]
    }

    func assetsNamed(in state: FundState) -> [String] { holdings.map(\.asset) }

    func describe(_ screen: inout Screen) {
        screen.line("as of", Words.time(asOf))
        for holding in holdings {
            var line = screen.amount(holding.amount, holding.asset) + " held"
            if let state = screen.state, let balance = state.balances[holding.asset] {
                line += "; the books say \(state.show(balance.contributed - balance.paid, holding.asset)) (\(state.show(balance.reserved, holding.asset)) reserved)"
            }
            screen.line("holds", line)
            for wallet in holding.wallets { screen.line("  wallet", wallet) }
        }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "reserves attested as of \(asOf): " + holdings.map { "\(state.show($0.amount, $0.asset)) in \($0.wallets.count) wallet(s)" }.joined(separator: ", ")
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("a reserve attestation") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        for holding in holdings { _ = try state.requireAsset(holding.asset, "reserves") }
        guard asOf <= entry.time else { throw FundError(.invalidParameter, "reserves: observed at \(asOf), after the entry time \(entry.time)") }
        if let last = state.reserves, asOf < last.asOf {
            throw FundError(.invalidParameter, "reserves: observed at \(asOf), before the last attestation's \(last.asOf)")
        }
        // What was paid before the observation is in it; what was paid after would be
        // forgotten, so an observation older than the last settlement is refused.
        if let paid = state.lastSettledAt, asOf < paid {
            throw FundError(.invalidParameter, "reserves: observed at \(asOf), before the settlement recorded at \(paid); observe the wallets again, after it")
        }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.reserves = ReserveAttestation(asOf: asOf, seq: entry.seq, holdings: Dictionary(uniqueKeysWithValues: holdings.map { ($0.asset, $0.amount) }),
                                            wallets: Dictionary(uniqueKeysWithValues: holdings.map { ($0.asset, $0.wallets) }))
        state.paidSinceAttestation = [:]
    }
}

extension FundState {
    /// What new releases of `asset` may still reserve by the last attestation: attested,
    /// less paid since, less reserved; nil when no attestation binds the fund (a version-1
    /// fund that never attested).
    public func attestedAvailable(_ asset: String) -> Amount? {
        guard let reserves else { return version >= 2 ? .zero : nil }
        let held = reserves.holdings[asset] ?? .zero
        let out = (paidSinceAttestation[asset] ?? .zero) + (balances[asset]?.reserved ?? .zero)
        return out <= held ? held - out : .zero
    }
}

import BackstopLedger

/// Confirms declared contributions with what was actually received (version-2 funds).
/// Signed by the delegate threshold. Only confirmed money counts toward `available` and
/// toward dues.
public struct ReceiptPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.receipt

    /// One contribution confirmed.
    public struct Confirmation: Sendable, Hashable {
        /// The member that declared it.
        public let member: String
        /// The contribution's payload id.
        public let contribution: String
        /// The asset (as declared; stated so that the signer sees it).
        public let asset: String
        /// What arrived, in minor units: at most what was declared, zero if nothing came.
        public let received: Amount

        /// A confirmation.
        public init(member: String, contribution: String, asset: String, received: Amount) {
            self.member = member
            self.contribution = contribution
            self.asset = asset
            self.received = received
        }
    }

    /// The contributions confirmed.
    public let confirmations: [Confirmation]
    /// Where the money was seen (statement, block range), for the record.
    public let reference: String

    /// A receipt.
    public init(confirmations: [Confirmation], reference: String) {
        self.confirmations = confirmations
        self.reference = reference
    }

    /// Confirmations in one receipt.
    static let limit = 1...1_000

    init(reading r: inout FieldReader) throws(FundError) {
        var confirmations: [Confirmation] = []
        var seen = Set<[UInt8]>()
        for (index, item) in try r.array("confirms", count: Self.limit).enumerated() {
            let confirmation = try readObject(item, context: "receipt confirmation \(index + 1)") { (c: inout FieldReader) throws(FundError) in
                Confirmation(member: try c.identifier("member"), contribution: try c.identifier("contribution"), asset: try c.assetSymbol("asset"),
                             received: try c.amount("received", allowZero: true))
            }
            guard seen.insert(Array(FundState.declarationKey(member: confirmation.member, id: confirmation.contribution).utf8)).inserted else {
                throw FundError(.invalidParameter, "receipt: contribution \(confirmation.contribution) of \(confirmation.member) is confirmed twice")
            }
            confirmations.append(confirmation)
        }
        self.confirmations = confirmations
        reference = try r.text("reference", maxBytes: 1_000)
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        ["confirms": .array(confirmations.map {
            ["member": .string($0.member), "contribution": .string($0.contribution), "asset": .string($0.asset), "received": .string($0.received.description)]
        }), "reference": .string(reference)]
    }

    /// Per-asset totals received.
    public var totals: [String: Amount] {
        confirmations.reduce(into: [:]) { $0[$1.asset] = ($0[$1.asset] ?? .zero) + $1.received }
    }

    func assetsNamed(in state: FundState) -> [String] { totals.keys.sorted() }

    func describe(_ screen: inout Screen) {
        for (index, c) in confirmations.enumerated() {
            var line = "\(c.member) contribution \(c.contribution): received \(screen.amount(c.received, c.asset))"
            if let declared = screen.state?.declarations[FundState.declarationKey(member: c.member, id: c.contribution)] {
                line += declared.amount == c.received ? " (as declared)" : " of \(screen.state!.show(declared.amount, c.asset)) declared"
            }
            screen.line("confirms \(index + 1)", line)
        }
        for (asset, total) in totals.sorted(by: { $0.key < $1.key }) { screen.line("total", screen.amount(total, asset) + " received") }
        screen.text("reference", reference)
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        let total = totals.sorted { $0.key < $1.key }.map { state.show($0.value, $0.key) }.joined(separator: ", ")
        return "receipt confirms \(confirmations.count) contribution(s): \(total) received, ref \(SafeText.show(reference))"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("a receipt") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        guard state.version >= 2 else {
            throw FundError(.wrongVersion, "this fund's genesis predates receipts (rules version 1): its contributions count when declared")
        }
        for c in confirmations {
            guard let declared = state.declarations[FundState.declarationKey(member: c.member, id: c.contribution)] else {
                let closed = state.memberMoney[c.member] != nil ? " (or already confirmed)" : ""
                throw FundError(.unknownContribution, "receipt: member \(c.member) has no unconfirmed contribution \(c.contribution)\(closed)")
            }
            guard declared.asset == c.asset else {
                throw FundError(.invalidParameter, "receipt: contribution \(c.contribution) of \(c.member) is in \(declared.asset), not \(c.asset)")
            }
            guard c.received <= declared.amount else {
                throw FundError(.overReceipt, "receipt: \(state.show(c.received, c.asset)) received for contribution \(c.contribution) of \(c.member), which declared \(state.show(declared.amount, c.asset)); the excess needs a declaration of its own")
            }
            if let deadline = declared.deadline, entry.time > deadline {
                throw FundError(.receiptLate, "receipt: contribution \(c.contribution) of \(c.member) was declared \(declared.declaredAt) and lapsed unconfirmed at \(deadline); it never counts (the member may declare the payment again)")
            }
        }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        for c in confirmations {
            let key = FundState.declarationKey(member: c.member, id: c.contribution)
            let declared = state.declarations.removeValue(forKey: key)!
            state.memberMoney[c.member]![c.asset]!.confirmed += c.received
            state.memberMoney[c.member]![c.asset]!.closed += declared.amount
            state.balances[c.asset]!.contributed += c.received
            if c.asset == state.policy.asset {
                state.duesPaid[c.member, default: [:]][declared.period, default: .zero] += c.received
            }
        }
    }
}

extension FundState {
    /// A member's declarations still awaiting a receipt at `time`, and those that lapsed.
    public func unconfirmed(member: String, at time: Timestamp) -> (pending: [Declaration], lapsed: [Declaration]) {
        let mine = declarations.values.filter { $0.member == member }.sorted { $0.seq < $1.seq }
        let isLapsed = { (d: Declaration) in d.deadline.map { $0 < time } ?? false }
        return (mine.filter { !isLapsed($0) }, mine.filter(isLapsed))
    }
}

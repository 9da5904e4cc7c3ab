import BackstopCrypto
import BackstopLedger

/// One asset of a fund: its symbol and how many decimals its minor unit has.
public struct AssetDeclaration: Sendable, Hashable {
    /// "ETH".
    public let symbol: String
    /// 18 for ETH: one ETH is 10^18 minor units (wei).
    public let decimals: Int

    /// An asset.
    public init(symbol: String, decimals: Int) {
        self.symbol = symbol
        self.decimals = decimals
    }
}

/// Entry 0: the fund's name, assets, first delegate set, thresholds, dues policy and
/// release delay. Signed by at least the threshold of the delegates it names.
public struct GenesisPayload: PayloadBody {
    /// The kind.
    public static let kind = EntryKind.genesis
    /// The fund's name.
    public let name: String
    /// The assets, in the order listed.
    public let assets: [AssetDeclaration]
    /// The first delegate set.
    public let delegates: [Delegate]
    /// Distinct delegate approvals needed (a majority).
    public let threshold: Int
    /// Distinct petitioner signatures needed to file a claim by petition.
    public let petitionThreshold: Int
    /// The contribution policy.
    public let policy: ContributionPolicy
    /// Seconds between a release's approval and its earliest settlement.
    public let releaseDelaySeconds: Int64
    /// Who cosigns checkpoints; nil in a genesis made before witnesses (optional, so that
    /// such ledgers still verify, with entry-time rules).
    public let witnesses: WitnessPolicy?
    /// The rules version (``RulesVersion``): absent, and so 1, in a genesis made before
    /// confirmed receipts.
    public let version: Int64
    /// The safeguards; absent in a version-1 genesis (then ``Safeguards/defaults``).
    public let safeguards: Safeguards?

    /// A genesis body.
    public init(name: String, assets: [AssetDeclaration], delegates: [Delegate], threshold: Int, petitionThreshold: Int,
                policy: ContributionPolicy, releaseDelaySeconds: Int64, witnesses: WitnessPolicy? = .delegates,
                version: Int64 = RulesVersion.current, safeguards: Safeguards? = .defaults) {
        self.witnesses = witnesses
        self.version = version
        self.safeguards = safeguards
        self.name = name
        self.assets = assets
        self.delegates = delegates
        self.threshold = threshold
        self.petitionThreshold = petitionThreshold
        self.policy = policy
        self.releaseDelaySeconds = releaseDelaySeconds
    }

    init(reading r: inout FieldReader) throws(FundError) {
        name = try r.text("name", maxBytes: 200)
        var assets: [AssetDeclaration] = []
        for (index, item) in try r.array("assets", count: FundLimits.assets).enumerated() {
            let asset = try readObject(item, context: "genesis asset \(index + 1)") { (a: inout FieldReader) throws(FundError) in
                AssetDeclaration(symbol: try a.assetSymbol("symbol"), decimals: Int(try a.integer("decimals", in: 0...Int64(FundLimits.decimals.upperBound))))
            }
            guard !assets.contains(where: { $0.symbol == asset.symbol }) else {
                throw FundError(.invalidParameter, "genesis: asset \(asset.symbol) is listed twice")
            }
            assets.append(asset)
        }
        self.assets = assets
        (delegates, threshold, petitionThreshold) = try readDelegateSet(&r, context: "genesis")
        policy = try readObject(r.value("policy") ?? .null, context: "genesis policy") { (p: inout FieldReader) throws(FundError) in
            try ContributionPolicy(reading: &p)
        }
        releaseDelaySeconds = try r.integer("releaseDelaySeconds", in: FundLimits.releaseDelaySeconds)
        witnesses = try r.value("witnesses").map { value throws(FundError) in try WitnessPolicy.read(value, context: "genesis") }
        version = r.has("version") ? try r.integer("version", in: RulesVersion.known) : 1
        guard version >= 2 || !r.has("version") else { throw r.invalid("version", "2 (a version-1 genesis has no version field)") }
        safeguards = try r.value("safeguards").map { value throws(FundError) in try Safeguards.read(value, context: "genesis") }
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        [
            "name": .string(name),
            "assets": .array(assets.map { ["symbol": .string($0.symbol), "decimals": .integer(Int64($0.decimals))] }),
            "delegates": Payloads.json(delegates), "threshold": .integer(Int64(threshold)),
            "petitionThreshold": .integer(Int64(petitionThreshold)), "policy": policy.json,
            "releaseDelaySeconds": .integer(releaseDelaySeconds),
        ].merging(witnesses.map { ["witnesses": $0.json] } ?? [:]) { first, _ in first }
            .merging(version >= 2 ? ["version": .integer(version)] : [:]) { first, _ in first }
            .merging(safeguards.map { ["safeguards": $0.json] } ?? [:]) { first, _ in first }
    }

    static func signers(of payload: Payload) throws(FundError) -> SignerPolicy {
        let genesis = payload.body as! GenesisPayload
        let keys = genesis.delegates.enumerated().map { NamedKey(name: "delegate-\($0.offset + 1) (\(SafeText.escape($0.element.platform)))", key: $0.element.key) }
        return SignerPolicy(action: "genesis", groups: [SignerGroup(role: .genesisDelegates, keys: keys, threshold: genesis.threshold)])
    }

    func describe(_ screen: inout Screen) {
        screen.text("fund name", name)
        for asset in assets { screen.line("asset", "\(asset.symbol) (\(asset.decimals) decimals)") }
        for (index, delegate) in delegates.enumerated() {
            screen.line("delegate \(index + 1)", "\(SafeText.show(delegate.platform)), key \(delegate.key.fingerprint) (\(delegate.key.curve.rawValue))")
        }
        screen.line("threshold", "\(threshold) of the \(delegates.count) delegates approve every release and change")
        screen.line("petitions", "\(petitionThreshold) distinct signatures file a claim")
        screen.line("dues", policy.words(decimals: assets.first { $0.symbol == policy.asset }?.decimals))
        screen.line("release delay", "\(Words.duration(releaseDelaySeconds)) between a release's approval and its payout")
        screen.line("witnesses", witnesses.map { $0.words(nil) } ?? "none named: time is whatever the host stamps (a genesis from before witnesses)")
        screen.line("rules", version >= 2 ? "version \(version): contributions count once a receipt confirms them; ids belong to their signer" : "version 1: contributions count when declared (a genesis from before receipts)")
        safeguards?.describe(&screen)
    }
}

extension FundState {
    /// The state a genesis payload starts, checked at `time` (signatures aside).
    init(genesis payload: Payload, time: Timestamp, hash: [UInt8]) throws(FundError) {
        let genesis = payload.body as! GenesisPayload
        guard payload.header.expires >= time else {
            throw FundError(.expired, "genesis payload expired at \(payload.header.expires), entry time \(time)")
        }
        guard payload.header.delegateSet == 1 else { throw FundError(.wrongDelegateSet, "a genesis is delegate set 1") }
        guard genesis.assets.contains(where: { $0.symbol == genesis.policy.asset }) else {
            throw FundError(.unknownAsset, "policy: dues asset \(genesis.policy.asset) is not one of the fund's assets (\(genesis.assets.map(\.symbol).joined(separator: ", ")))")
        }
        try genesis.policy.checkFloorAndCap(decimals: genesis.assets.first { $0.symbol == genesis.policy.asset }?.decimals)
        try genesis.safeguards?.check(in: Dictionary(uniqueKeysWithValues: genesis.assets.map { ($0.symbol, $0.decimals) }), context: "genesis")
        self.fundId = hash
        self.name = genesis.name
        self.assets = Dictionary(uniqueKeysWithValues: genesis.assets.map { ($0.symbol, $0.decimals) })
        self.delegates = genesis.delegates
        self.delegateKeys = Self.named(genesis.delegates)
        self.delegateSet = 1
        self.threshold = genesis.threshold
        self.petitionThreshold = genesis.petitionThreshold
        self.policy = genesis.policy
        self.releaseDelaySeconds = genesis.releaseDelaySeconds
        self.genesisTime = time
        self.balances = self.assets.mapValues { _ in Balance() }
        self.entryCount = 1
        self.head = hash
        self.lastTime = time
        self.usedIds.insert(payload.header.id, seq: 0)
        self.witnesses = genesis.witnesses
        self.version = genesis.version
        self.safeguards = genesis.safeguards ?? .defaults
        self.frontier.append(hash)
        self.uncheckpointedTimes.append(time)
    }
}

/// Reads a delegate set (`delegates`, `threshold`, `petitionThreshold`), as a genesis and
/// a rotation write it.
func readDelegateSet(_ r: inout FieldReader, context: String) throws(FundError) -> ([Delegate], Int, Int) {
    var delegates: [Delegate] = []
    for (index, item) in try r.array("delegates", count: FundLimits.delegates).enumerated() {
        let delegate = try readObject(item, context: "\(context) delegate \(index + 1)") { (d: inout FieldReader) throws(FundError) in
            Delegate(key: try d.key("key"), platform: try d.text("platform", maxBytes: 200))
        }
        if delegates.contains(where: { $0.key == delegate.key }) {
            throw FundError(.duplicateKey, "\(context): delegate \(index + 1) repeats the key \(delegate.key.fingerprint)")
        }
        if delegates.contains(where: { Identifiers.same($0.platform, delegate.platform) }) {
            throw FundError(.invalidParameter, "\(context): delegate \(index + 1) repeats the platform \(SafeText.quoted(delegate.platform)); each delegate comes from a different platform")
        }
        delegates.append(delegate)
    }
    let threshold = Int(try r.integer("threshold", in: 1...Int64(delegates.count)))
    guard threshold * 2 > delegates.count else {
        throw FundError(.invalidParameter, "\(context): threshold \(threshold) of \(delegates.count) is not a majority")
    }
    let petition = Int(try r.integer("petitionThreshold", in: Int64(FundLimits.petitionThreshold.lowerBound)...Int64(FundLimits.petitionThreshold.upperBound)))
    return (delegates, threshold, petition)
}

extension ContributionPolicy {
    /// Reads a policy object (whether its asset is one of the fund's is the caller's check).
    init(reading p: inout FieldReader) throws(FundError) {
        let asset = try p.assetSymbol("asset")
        let periodSeconds = try p.integer("periodSeconds", in: FundLimits.periodSeconds)
        self.init(asset: asset, ratePerMillion: try p.integer("ratePerMillion", in: 0...1_000_000),
                  floor: try p.amount("floor", allowZero: true), cap: try p.amount("cap", allowZero: true),
                  periodSeconds: periodSeconds, graceSeconds: try p.integer("graceSeconds", in: 0...periodSeconds * 12))
    }

    /// Refuses a floor above the cap; `decimals` are the dues asset's.
    func checkFloorAndCap(decimals: Int?) throws(FundError) {
        guard floor <= cap else {
            throw FundError(.invalidParameter, "policy: floor \(Words.amount(floor, asset, decimals: decimals)) is above cap \(Words.amount(cap, asset, decimals: decimals))")
        }
    }

    /// The policy as payloads write it.
    public var json: JSONValue {
        [
            "asset": .string(asset), "ratePerMillion": .integer(ratePerMillion),
            "floor": .string(floor.description), "cap": .string(cap.description),
            "periodSeconds": .integer(periodSeconds), "graceSeconds": .integer(graceSeconds),
        ]
    }

    /// "0.01% of declared size per 30 days, floor 1,000 USDC, cap 100,000 USDC, grace 7 days".
    public func words(decimals: Int?) -> String {
        "\(Words.percent(perMillion: ratePerMillion)) of declared size per \(Words.duration(periodSeconds)), floor \(Words.amount(floor, asset, decimals: decimals)), cap \(Words.amount(cap, asset, decimals: decimals)), grace \(Words.duration(graceSeconds))"
    }
}

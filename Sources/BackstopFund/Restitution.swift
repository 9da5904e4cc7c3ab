import BackstopCrypto
import BackstopLedger

/// What a release states about the restitution list it pays into: the list's Merkle root
/// and size, how many accounts it holds, the destination whose payouts fund it, and per
/// asset the total and the largest single amount. The rules check the totals against the
/// payouts and the largest amounts against the policy's per-account caps; each affected
/// user checks their own leaf with a ``RestitutionProof``.
public struct RestitutionSummary: Sendable, Hashable {
    /// The RFC 9162 Merkle root of the leaves, hex.
    public let root: String
    /// Leaves in the tree (one per account and asset).
    public let leaves: Int64
    /// Distinct accounts.
    public let accounts: Int64
    /// The payout destination the list is paid from.
    public let destination: String
    /// Per asset, the sum of the leaves: equal to the release's payouts to `destination`.
    public let totals: [String: Amount]
    /// Per asset, the largest leaf.
    public let largest: [String: Amount]

    /// A summary.
    public init(root: String, leaves: Int64, accounts: Int64, destination: String, totals: [String: Amount], largest: [String: Amount]) {
        self.root = root
        self.leaves = leaves
        self.accounts = accounts
        self.destination = destination
        self.totals = totals
        self.largest = largest
    }

    /// Leaves in one list.
    static let limit: ClosedRange<Int64> = 1...100_000_000

    /// Reads a summary as a release (or `summary.json`) writes it.
    public init(json: JSONValue) throws(FundError) { self = try Self.read(json) }

    static func read(_ value: JSONValue) throws(FundError) -> RestitutionSummary {
        try readObject(value, context: "release restitution") { (r: inout FieldReader) throws(FundError) in
            let root = try r.hash("root")
            let leaves = try r.integer("leaves", in: limit)
            let accounts = try r.integer("accounts", in: 1...leaves)
            let destination = try r.destination("destination")
            func map(_ key: String) throws(FundError) -> [String: Amount] {
                var result: [String: Amount] = [:]
                for (symbol, value) in try r.assetMap(key, count: FundLimits.assets) {
                    guard let text = value.stringValue else { throw r.invalid(key, "asset symbols with amounts in minor units") }
                    result[symbol] = try FieldReader.amount(text, field: "restitution \(key) \(symbol)")
                }
                return result
            }
            let totals = try map("totals")
            let largest = try map("largest")
            guard Set(totals.keys) == Set(largest.keys) else { throw FundError(.restitutionMismatch, "restitution: totals and largest name different assets") }
            return RestitutionSummary(root: root, leaves: leaves, accounts: accounts, destination: destination, totals: totals, largest: largest)
        }
    }

    /// The summary as a release writes it.
    public var json: JSONValue {
        [
            "root": .string(root), "leaves": .integer(leaves), "accounts": .integer(accounts), "destination": .string(destination),
            "totals": .object(totals.mapValues { .string($0.description) }), "largest": .object(largest.mapValues { .string($0.description) }),
        ]
    }

    func describe(_ screen: inout Screen, capped caps: [String: Amount]?) {
        screen.line("restitution", "list of \(accounts) accounts (\(leaves) amounts), root \(root)")
        screen.line("  paid from", destination)
        for (asset, total) in totals.sorted(by: { $0.key < $1.key }) {
            var line = "\(screen.amount(total, asset)) in total, at most \(screen.amount(largest[asset]!, asset)) to one account"
            if let cap = caps?[asset] { line += "; the cap is \(screen.amount(cap, asset))" }
            screen.line("  \(asset)", line)
        }
    }

    /// The rules: totals equal the payouts to the destination, the largest leaf within the
    /// total and the cap, no more accounts than the claim.
    func check(payouts: [Payout], claim: Claim, state: FundState) throws(FundError) {
        var paid: [String: Amount] = [:]
        for payout in payouts where payout.destination.utf8.elementsEqual(destination.utf8) { paid[payout.asset, default: .zero] += payout.amount }
        guard !paid.isEmpty else { throw FundError(.restitutionMismatch, "restitution: no payout goes to the list's destination \(destination)") }
        for asset in Set(paid.keys).union(totals.keys).sorted() {
            let list = totals[asset] ?? .zero, pays = paid[asset] ?? .zero
            guard list == pays else {
                throw FundError(.restitutionMismatch, "restitution: the list totals \(state.show(list, asset)), but the release pays \(state.show(pays, asset)) to \(destination)")
            }
            let top = largest[asset]!
            guard top > .zero, top <= list else { throw FundError(.restitutionMismatch, "restitution: the largest \(asset) amount \(state.show(top, asset)) is not within the total") }
            // No list of `leaves` amounts, none above `largest`, can add up to more.
            guard list <= Amount(top.minorUnits * .init(leaves)) else {
                throw FundError(.restitutionMismatch, "restitution: \(leaves) amounts of at most \(state.show(top, asset)) cannot total \(state.show(list, asset)): the stated largest amount is false")
            }
            if let cap = state.safeguards.accountCaps[asset], top > cap {
                throw FundError(.overAccountCap, "restitution: one account would receive \(state.show(top, asset)), above the policy's cap of \(state.show(cap, asset)) per account")
            }
        }
        guard leaves <= accounts * Int64(totals.count) else {
            throw FundError(.restitutionMismatch, "restitution: \(leaves) amounts for \(accounts) accounts in \(totals.count) asset(s): an account and asset twice")
        }
        guard accounts <= claim.accounts else {
            throw FundError(.restitutionMismatch, "restitution: the list holds \(accounts) accounts, more than the \(claim.accounts) the claim states were affected")
        }
    }
}

/// A restitution list: per affected account and asset, the amount it is owed. Accounts are
/// salted and hashed, so the list and its root reveal no identity; each account's salt is
/// given only to that account, in its proof.
public struct RestitutionList: Sendable {
    /// One line of the list, before hashing.
    public struct Row: Sendable, Hashable {
        /// The account reference as the platform knows it (user id, e-mail): never published.
        public let account: String
        /// The asset.
        public let asset: String
        /// Minor units owed.
        public let amount: Amount

        /// A row.
        public init(account: String, asset: String, amount: Amount) {
            self.account = account
            self.asset = asset
            self.amount = amount
        }
    }

    /// The rows, in list order.
    public let rows: [Row]
    /// Per account reference, its 16-byte salt.
    public let salts: [String: [UInt8]]
    /// Leaf hashes, in list order.
    public let leafHashes: [[UInt8]]
    private let levels: [[[UInt8]]]

    /// The list of `rows` (each account and asset once), with fresh random salts unless
    /// `salts` gives them.
    public init(rows: [Row], salts given: [String: [UInt8]]? = nil) throws(FundError) {
        guard !rows.isEmpty else { throw FundError(.invalidParameter, "a restitution list needs at least one account") }
        var seen = Set<[UInt8]>()
        var salts: [String: [UInt8]] = given ?? [:]
        var generator = SystemRandomNumberGenerator()
        for row in rows {
            guard seen.insert(Array((row.account + "\n" + row.asset).utf8)).inserted else {
                throw FundError(.invalidParameter, "restitution list: account \(SafeText.quoted(row.account)) has two \(row.asset) rows")
            }
            guard row.amount > .zero else { throw FundError(.invalidAmount, "restitution list: account \(SafeText.quoted(row.account)) is owed nothing in \(row.asset)") }
            if salts[row.account] == nil { salts[row.account] = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        }
        self.rows = rows
        self.salts = salts
        leafHashes = rows.map { Self.leafHash(accountHash: Self.accountHash(reference: $0.account, salt: salts[$0.account]!), asset: $0.asset, amount: $0.amount) }
        var levels = [leafHashes]
        while levels.last!.count > 1 {
            let below = levels.last!
            levels.append(stride(from: 0, to: below.count - 1, by: 2).map { Merkle.node(below[$0], below[$0 + 1]) })
        }
        self.levels = levels
    }

    /// SHA-256 of "backstop/v1/restitution-account", a newline, the salt in hex, a newline
    /// and the account reference's UTF-8 bytes.
    public static func accountHash(reference: String, salt: [UInt8]) -> [UInt8] {
        (try? SHA256.hash(Array("backstop/v1/restitution-account\n\(Hex.encode(salt))\n\(reference)".utf8))) ?? []
    }

    /// The RFC 9162 leaf hash (SHA-256 of 0x00 and the leaf) of the canonical JSON
    /// `{"account":HEX,"amount":"MINOR","asset":SYMBOL}`.
    public static func leafHash(accountHash: [UInt8], asset: String, amount: Amount) -> [UInt8] {
        let leaf: JSONValue = ["account": .string(Hex.encode(accountHash)), "amount": .string(amount.description), "asset": .string(asset)]
        return (try? SHA256.hash([0] + Canonical.encode(leaf))) ?? []
    }

    /// The Merkle root.
    public var root: [UInt8] { Merkle.root(size: Int64(leafHashes.count)) { level, index in levels[level][Int(index)] } }

    /// What a release states about the list, paid from `destination`.
    public func summary(destination: String) -> RestitutionSummary {
        var totals: [String: Amount] = [:], largest: [String: Amount] = [:]
        for row in rows {
            totals[row.asset, default: .zero] += row.amount
            largest[row.asset] = max(largest[row.asset] ?? .zero, row.amount)
        }
        return RestitutionSummary(root: Hex.encode(root), leaves: Int64(rows.count), accounts: Int64(Set(rows.map(\.account)).count),
                                  destination: destination, totals: totals, largest: largest)
    }

    /// The proof for one account: its salt, and each of its rows with an inclusion path.
    public func proof(for account: String) throws -> RestitutionProof {
        let size = Int64(leafHashes.count)
        let items = try rows.indices.filter { rows[$0].account == account }.map { index in
            RestitutionProof.Item(asset: rows[index].asset, amount: rows[index].amount, index: Int64(index),
                                  path: try Merkle.inclusionProof(index: Int64(index), size: size) { level, at in levels[level][Int(at)] })
        }
        guard let salt = salts[account], !items.isEmpty else { throw FundError(.invalidParameter, "account \(SafeText.quoted(account)) is not in the list") }
        return RestitutionProof(account: account, salt: salt, root: root, size: size, items: items)
    }
}

/// One affected account's proof that it is in a restitution list, with what it is owed.
/// The file is given to that user alone: it holds their account reference and salt.
public struct RestitutionProof: Sendable, Hashable {
    /// One amount owed, with its inclusion path.
    public struct Item: Sendable, Hashable {
        /// The asset.
        public let asset: String
        /// Minor units.
        public let amount: Amount
        /// The leaf's index.
        public let index: Int64
        /// The RFC 9162 inclusion path.
        public let path: [[UInt8]]
    }

    /// The account reference.
    public let account: String
    /// Its salt.
    public let salt: [UInt8]
    /// The list's root.
    public let root: [UInt8]
    /// The list's size.
    public let size: Int64
    /// What the account is owed.
    public let items: [Item]

    /// The file format's name.
    public static let format = "backstop/restitution-proof/v1"

    /// True when every item's leaf is in the tree of `size` leaves with `root`.
    public var isValid: Bool {
        let hash = RestitutionList.accountHash(reference: account, salt: salt)
        return !items.isEmpty && items.allSatisfy { item in
            Merkle.verifyInclusion(leaf: RestitutionList.leafHash(accountHash: hash, asset: item.asset, amount: item.amount), index: item.index, size: size, proof: item.path, root: root)
        }
    }

    /// The proof as its file holds it.
    public var json: JSONValue {
        [
            "format": .string(Self.format), "account": .string(account), "salt": .string(Hex.encode(salt)),
            "root": .string(Hex.encode(root)), "size": .integer(size),
            "items": .array(items.map { ["asset": .string($0.asset), "amount": .string($0.amount.description), "index": .integer($0.index), "path": .array($0.path.map { .string(Hex.encode($0)) })] }),
        ]
    }

    /// A proof as its file holds it; a damaged file is a `malformedPayload`.
    public init(json: JSONValue) throws(FundError) {
        func bad(_ what: String) -> FundError { FundError(.malformedPayload, "restitution proof: \(what)") }
        guard json["format"]?.stringValue == Self.format else { throw bad("not a \(Self.format) file") }
        guard let account = json["account"]?.stringValue, !account.isEmpty else { throw bad("no account") }
        guard let salt = json["salt"]?.stringValue.flatMap(Hex.decode), salt.count == 16 else { throw bad("the salt is not 32 hex digits") }
        guard let root = json["root"]?.stringValue.flatMap(Hex.decode), root.count == 32 else { throw bad("the root is not 64 hex digits") }
        guard let size = json["size"]?.integerValue, RestitutionSummary.limit.contains(size) else { throw bad("the size is not a leaf count") }
        guard let list = json["items"]?.arrayValue, (1...FundLimits.assets.upperBound).contains(list.count) else { throw bad("no items") }
        var items: [Item] = []
        for item in list {
            guard let asset = item["asset"]?.stringValue, Identifiers.isAssetSymbol(asset),
                  let amount = item["amount"]?.stringValue.flatMap(Amount.init(minorUnits:)),
                  let index = item["index"]?.integerValue, index >= 0, index < size,
                  let path = item["path"]?.arrayValue, path.count <= 64
            else { throw bad("an item is not asset, amount, index and path") }
            var hashes: [[UInt8]] = []
            for hash in path {
                guard let bytes = hash.stringValue.flatMap(Hex.decode), bytes.count == 32 else { throw bad("a path hash is not 64 hex digits") }
                hashes.append(bytes)
            }
            guard !items.contains(where: { $0.index == index || $0.asset == asset }) else { throw bad("an index or an asset is given twice") }
            items.append(Item(asset: asset, amount: amount, index: index, path: hashes))
        }
        self.init(account: account, salt: salt, root: root, size: size, items: items)
    }

    init(account: String, salt: [UInt8], root: [UInt8], size: Int64, items: [Item]) {
        self.account = account
        self.salt = salt
        self.root = root
        self.size = size
        self.items = items
    }
}

extension FundState {
    /// The release whose restitution list has `root` and `size`, if any: a settled one
    /// first, then a pending one, then a cancelled one (a list may be paid by a second
    /// release after the first was cancelled).
    public func release(restitutionRoot root: [UInt8], size: Int64) -> Release? {
        let hex = Hex.encode(root)
        let rank: [Release.Status: Int] = [.settled: 0, .pending: 1, .cancelled: 2]
        return releases.values.filter { $0.restitution?.root == hex && $0.restitution?.leaves == size }
            .min { (rank[$0.status]!, $0.approvedSeq) < (rank[$1.status]!, $1.approvedSeq) }
    }
}

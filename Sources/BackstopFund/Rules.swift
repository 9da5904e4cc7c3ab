import BackstopCrypto
import BackstopLedger

/// The kinds of entry, each the purpose of its payload: `domain` is `backstop/v1/<kind>`.
public enum EntryKind: String, Sendable, CaseIterable {
    case genesis, admit, memberStatus = "member-status", memberKey = "member-key", contribution
    case claim, reject, release, cancel, settle, rotate, policy

    /// The payload's `domain`.
    public var domain: String { "backstop/v1/\(rawValue)" }

    /// True for the kinds that need a threshold of delegates (and name a `delegateSet`).
    public var isDelegateAction: Bool { ![.contribution, .claim].contains(self) }
}

/// Limits on what one payload may hold.
public enum FundLimits {
    /// Delegates in one set.
    public static let delegates = 1...64
    /// Assets of a fund.
    public static let assets = 1...32
    /// Decimals of an asset.
    public static let decimals = 0...36
    /// Petition threshold (a petition's signatures must fit in one entry).
    public static let petitionThreshold = 1...Entry.maximumSignatures
    /// Payouts in one release.
    public static let payouts = 1...1_000
    /// Evidence hashes in one claim.
    public static let evidence = 0...256
    /// Length of a contribution period: one hour to ten years.
    public static let periodSeconds: ClosedRange<Int64> = 3_600...315_360_000
    /// Release delay: none to one year.
    public static let releaseDelaySeconds: ClosedRange<Int64> = 0...31_536_000
}

extension FundState {
    /// The fund as its genesis entry (entry 0) sets it up.
    ///
    /// - Throws: ``FundError`` naming the first rule the genesis breaks.
    public init(genesis entry: Entry, hash: [UInt8]) throws(FundError) {
        do throws(FundError) {
            guard entry.seq == 0, entry.kind == EntryKind.genesis.rawValue else {
                throw FundError(.notInitialized, "entry 0 must be a genesis, found \(entry.kind)")
            }
            let p = try Payload(entry.body, context: "genesis", allowed: ["domain", "id", "expires", "delegateSet", "name", "assets", "delegates", "threshold", "petitionThreshold", "policy", "releaseDelaySeconds"])
            guard p.fields["domain"]?.stringValue == EntryKind.genesis.domain else {
                throw FundError(.wrongDomain, "genesis: domain must be \(EntryKind.genesis.domain)")
            }
            let id = try p.identifier("id")
            guard try p.time("expires") >= entry.time else { throw FundError(.expired, "genesis payload expired at \(try p.time("expires")), entry time \(entry.time)") }
            guard try p.integer("delegateSet", in: 1...1) == 1 else { throw FundError(.wrongDelegateSet, "genesis is delegate set 1") }
            let name = try p.string("name", maxLength: 200)
            var assets: [String: Int] = [:]
            for (index, item) in try p.array("assets", count: FundLimits.assets).enumerated() {
                let asset = try Payload(item, context: "genesis asset \(index)", allowed: ["symbol", "decimals"])
                let symbol = try asset.string("symbol", maxLength: 12, pattern: { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) })
                let decimals = Int(try asset.integer("decimals", in: 0...Int64(FundLimits.decimals.upperBound)))
                guard assets.updateValue(decimals, forKey: symbol) == nil else {
                    throw FundError(.invalidParameter, "genesis: asset \(symbol) is listed twice")
                }
            }
            let (delegates, threshold, petitionThreshold) = try Self.delegateSet(p, context: "genesis")
            let policy = try Self.policy(try p.object("policy"), assets: assets)
            let releaseDelay = try p.integer("releaseDelaySeconds", in: FundLimits.releaseDelaySeconds)

            self.fundId = hash
            self.name = name
            self.assets = assets
            self.delegates = delegates
            self.delegateSet = 1
            self.threshold = threshold
            self.petitionThreshold = petitionThreshold
            self.policy = policy
            self.releaseDelaySeconds = releaseDelay
            self.genesisTime = entry.time
            self.balances = assets.mapValues { _ in Balance() }
            self.entryCount = 1
            self.head = hash
            self.lastTime = entry.time
            self.usedIds = [id: 0]
            try requireDelegates(entry, action: "genesis")
        } catch {
            var error = error
            error.seq = entry.seq
            throw error
        }
    }

    /// Applies one entry after the last: checks every rule for its kind and updates the state.
    ///
    /// On a refusal the state is unchanged (the caller's copy is not modified).
    public mutating func apply(_ entry: Entry, hash: [UInt8]) throws(FundError) {
        var next = self
        // The id set grows with every entry. Leaving `next` as its only owner lets the new id
        // be inserted in place instead of copying the whole set once per entry.
        usedIds = [:]
        do throws(FundError) {
            try next.applyUnchecked(entry)
        } catch {
            swap(&usedIds, &next.usedIds)
            if let id = entry.body["id"]?.stringValue, usedIds[id] == entry.seq { usedIds.removeValue(forKey: id) }
            var error = error
            error.seq = entry.seq
            throw error
        }
        next.entryCount += 1
        next.head = hash
        next.lastTime = entry.time
        next.checkInvariants()
        self = next
    }

    private mutating func applyUnchecked(_ entry: Entry) throws(FundError) {
        guard entry.seq == entryCount else { throw FundError(.malformedPayload, "entry \(entry.seq) does not follow entry \(entryCount - 1)") }
        guard entry.time >= lastTime else { throw FundError(.timeBackwards, "time \(entry.time) is before the previous entry's \(lastTime)") }
        guard let kind = EntryKind(rawValue: entry.kind), kind != .genesis else {
            throw FundError(.malformedPayload, "kind \"\(entry.kind)\" is not an entry kind after genesis (admit, member-status, member-key, contribution, claim, reject, release, cancel, settle, rotate, policy)")
        }
        switch kind {
        case .admit: try admit(entry)
        case .memberStatus: try memberStatus(entry)
        case .memberKey: try memberKey(entry)
        case .contribution: try contribution(entry)
        case .claim: try claim(entry)
        case .reject: try reject(entry)
        case .release: try release(entry)
        case .cancel: try cancel(entry)
        case .settle: try settle(entry)
        case .rotate: try rotate(entry)
        case .policy: try changePolicy(entry)
        case .genesis: break
        }
    }

    /// Debug-build check of what no sequence of accepted entries may break.
    private func checkInvariants() {
        for (asset, balance) in balances {
            assert(balance.reserved + balance.paid <= balance.contributed, "\(asset): reserved + paid above contributed")
        }
    }

    // MARK: - Common checks

    /// Reads the payload of a kind and checks what every payload must satisfy: its domain, this
    /// fund, a new id, not expired, and for delegate actions the current delegate set.
    private mutating func payload(_ entry: Entry, _ kind: EntryKind, fields: Set<String>) throws(FundError) -> Payload {
        var allowed = fields.union(["domain", "fund", "id", "expires"])
        if kind.isDelegateAction { allowed.insert("delegateSet") }
        let p = try Payload(entry.body, context: "\(kind.rawValue) payload", allowed: allowed)
        let domain = p.fields["domain"]?.stringValue ?? ""
        guard domain == kind.domain else {
            throw FundError(.wrongDomain, "payload domain is \"\(domain)\", but a \(kind.rawValue) entry needs \"\(kind.domain)\"")
        }
        let fund = try p.string("fund", maxLength: 64)
        guard fund == Hex.encode(fundId) else { throw FundError(.wrongFund, "payload is for fund \(fund), this fund is \(Hex.encode(fundId))") }
        let id = try p.identifier("id")
        if let earlier = usedIds[id] { throw FundError(.replayedId, "payload id \"\(id)\" was already used by entry \(earlier)") }
        let expires = try p.time("expires")
        guard entry.time <= expires else { throw FundError(.expired, "payload expired at \(expires); entry time is \(entry.time)") }
        if kind.isDelegateAction {
            let set = try p.integer("delegateSet", in: 1...JSONValue.maximumInteger)
            guard set == delegateSet else {
                throw FundError(.wrongDelegateSet, "payload is for delegate set v\(set), the current set is v\(delegateSet); approvals for another set do not count")
            }
        }
        usedIds[id] = entry.seq
        return p
    }

    /// At least the threshold of current delegates signed, and nobody else.
    func requireDelegates(_ entry: Entry, action: String, alsoAllowed: Set<PublicKey> = []) throws(FundError) {
        let current = Set(delegates.map(\.key))
        var count = 0
        for signature in entry.signatures {
            if current.contains(signature.publicKey) {
                count += 1
            } else if !alsoAllowed.contains(signature.publicKey) {
                throw FundError(.unauthorizedSigner, "\(action): signer \(signature.publicKey.fingerprint) is not a delegate of set v\(delegateSet)")
            }
        }
        guard count >= threshold else {
            throw FundError(.threshold, "\(action) needs \(threshold) distinct delegate approvals for delegate set v\(delegateSet), found \(count)")
        }
    }

    private func requireSigner(_ entry: Entry, _ key: PublicKey, who: String) throws(FundError) {
        guard entry.signatures.count == 1, entry.signatures[0].publicKey == key else {
            throw FundError(.unauthorizedSigner, "needs exactly one signature, by \(who)'s key \(key.fingerprint); found \(entry.signatures.count) signature(s)\(entry.signatures.first.map { " by \($0.publicKey.fingerprint)" } ?? "")")
        }
    }

    private func asset(_ p: Payload, _ key: String) throws(FundError) -> String {
        let symbol = try p.string(key, maxLength: 12)
        guard assets[symbol] != nil else {
            throw FundError(.unknownAsset, "unknown asset \(symbol); this fund holds \(assets.keys.sorted().joined(separator: ", "))")
        }
        return symbol
    }

    private func member(_ p: Payload) throws(FundError) -> Member {
        let id = try p.identifier("member")
        guard let member = members[id] else { throw FundError(.unknownMember, "unknown member \"\(id)\"") }
        return member
    }

    private func isKeyInUse(_ key: PublicKey) -> String? {
        if let name = delegateName(key) { return name }
        return members.values.first { $0.key == key }.map { "member \($0.id)" }
    }

    // MARK: - Members and contributions

    private mutating func admit(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .admit, fields: ["member", "platform", "key", "size"])
        try requireDelegates(entry, action: "admitting a member")
        let id = try p.identifier("member")
        guard members[id] == nil else { throw FundError(.duplicateMember, "member \"\(id)\" is already admitted") }
        let key = try p.key("key")
        if let user = isKeyInUse(key) { throw FundError(.duplicateKey, "key \(key.fingerprint) is already used by \(user)") }
        members[id] = Member(id: id, platform: try p.string("platform", maxLength: 200), key: key,
                             size: try p.amount("size", allowZero: true), status: .active, admittedAt: entry.time)
    }

    private mutating func memberStatus(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .memberStatus, fields: ["member", "status", "reason"])
        try requireDelegates(entry, action: "changing a member's status")
        let member = try member(p)
        guard let status = Member.Status(rawValue: try p.string("status", maxLength: 16)) else {
            throw p.missing("status", "\"active\" or \"suspended\"")
        }
        _ = try p.string("reason", maxLength: 2_000)
        members[member.id]?.status = status
    }

    private mutating func memberKey(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .memberKey, fields: ["member", "key"])
        let member = try member(p)
        guard entry.signatures.contains(where: { $0.publicKey == member.key }) else {
            throw FundError(.unauthorizedSigner, "a member key rotation needs the signature of the member's current key \(member.key.fingerprint)")
        }
        try requireDelegates(entry, action: "rotating a member key", alsoAllowed: [member.key])
        let key = try p.key("key")
        if let user = isKeyInUse(key) { throw FundError(.duplicateKey, "key \(key.fingerprint) is already used by \(user)") }
        members[member.id]?.key = key
    }

    private mutating func contribution(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .contribution, fields: ["member", "asset", "amount", "period", "reference"])
        let member = try member(p)
        try requireSigner(entry, member.key, who: "member \(member.id)")
        let asset = try asset(p, "asset")
        let amount = try p.amount("amount")
        let current = period(of: entry.time)
        let period = try p.integer("period", in: 0...JSONValue.maximumInteger)
        guard period <= current else { throw FundError(.invalidParameter, "contribution for period \(period), but the current period is \(current)") }
        _ = try p.string("reference", maxLength: 256)
        balances[asset]!.contributed = balances[asset]!.contributed + amount
        if asset == policy.asset {
            duesPaid[member.id, default: [:]][period, default: .zero] = (duesPaid[member.id]?[period] ?? .zero) + amount
        }
    }

    // MARK: - Claims

    private mutating func claim(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .claim, fields: ["filedBy", "member", "platform", "description", "incidentTime", "accounts", "losses", "evidence"])
        let filedBy = try p.string("filedBy", maxLength: 16)
        var memberId: String? = nil
        switch filedBy {
        case "member":
            let member = try member(p)
            try requireSigner(entry, member.key, who: "member \(member.id)")
            guard member.status == .active else { throw FundError(.memberNotActive, "member \(member.id) is suspended and cannot file claims") }
            if let period = periodInArrears(member: member.id, at: entry.time) {
                throw FundError(.arrears, "member \(member.id) is in arrears (dues for period \(period) unpaid past the grace period) and cannot file claims; its users can still petition")
            }
            memberId = member.id
        case "petition":
            guard p.fields["member"] == nil else { throw FundError(.malformedPayload, "a petition claim names no member") }
            guard entry.signatures.count >= petitionThreshold else {
                throw FundError(.petitionThreshold, "a petition needs \(petitionThreshold) valid signatures from distinct keys, found \(entry.signatures.count)")
            }
        default:
            throw p.missing("filedBy", "\"member\" or \"petition\"")
        }
        guard case .object(let lossFields) = try p.object("losses"), !lossFields.isEmpty else { throw p.missing("losses", "a non-empty object") }
        var losses: [String: Amount] = [:]
        for (symbol, value) in lossFields {
            guard assets[symbol] != nil else { throw FundError(.unknownAsset, "claim loss in unknown asset \(symbol)") }
            guard let text = value.stringValue else { throw p.missing("losses", "asset → amount in minor units") }
            losses[symbol] = try Payload.amount(text, field: "claim loss \(symbol)")
        }
        var evidence: [String] = []
        for item in try p.array("evidence", count: FundLimits.evidence) {
            guard let text = item.stringValue, let bytes = Hex.decode(text), bytes.count == 32 else {
                throw p.missing("evidence", "an array of SHA-256 hashes in hex")
            }
            evidence.append(text)
        }
        let id = try p.identifier("id")
        claims[id] = Claim(
            id: id, member: memberId, petitioners: memberId == nil ? entry.signatures.count : 0,
            platform: try p.string("platform", maxLength: 200), description: try p.string("description", maxLength: 10_000),
            incidentTime: try p.time("incidentTime"), accounts: try p.integer("accounts", in: 1...JSONValue.maximumInteger),
            losses: losses, evidence: evidence, status: .open, committed: [:], paid: [:], seq: entry.seq)
    }

    private mutating func reject(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .reject, fields: ["claim", "reason"])
        try requireDelegates(entry, action: "rejecting a claim")
        let claim = try openClaim(p)
        _ = try p.string("reason", maxLength: 2_000)
        if let pending = releases.values.first(where: { $0.claim == claim.id && $0.status == .pending }) {
            throw FundError(.claimNotOpen, "claim \(claim.id) has pending release \(pending.id); cancel it before rejecting the claim")
        }
        claims[claim.id]?.status = .rejected
    }

    private func openClaim(_ p: Payload) throws(FundError) -> Claim {
        let id = try p.identifier("claim")
        guard let claim = claims[id] else { throw FundError(.unknownClaim, "unknown claim \"\(id)\"") }
        guard claim.status == .open else { throw FundError(.claimNotOpen, "claim \(id) was rejected") }
        return claim
    }

    // MARK: - Releases

    private mutating func release(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .release, fields: ["claim", "payouts"])
        try requireDelegates(entry, action: "release")
        let claim = try openClaim(p)
        var payouts: [Payout] = []
        var totals: [String: Amount] = [:]
        for (index, item) in try p.array("payouts", count: FundLimits.payouts).enumerated() {
            let payout = try Payload(item, context: "release payout \(index)", allowed: ["asset", "amount", "payee", "destination"])
            let asset = try asset(payout, "asset")
            let amount = try payout.amount("amount")
            payouts.append(Payout(asset: asset, amount: amount, payee: try payout.string("payee", maxLength: 200),
                                  destination: try payout.string("destination", maxLength: 200)))
            totals[asset] = (totals[asset] ?? .zero) + amount
        }
        for (asset, total) in totals.sorted(by: { $0.key < $1.key }) {
            let loss = claim.losses[asset] ?? .zero
            let committed = claim.committed[asset] ?? .zero
            guard committed + total <= loss else {
                throw FundError(.overClaim, "release of \(total) \(asset) minor units would bring claim \(claim.id) to \(committed + total), above its stated loss of \(loss)")
            }
            let available = balances[asset]!.available
            guard total <= available else {
                throw FundError(.overBalance, "release of \(total) \(asset) minor units is more than the \(available) available")
            }
        }
        for (asset, total) in totals {
            balances[asset]!.reserved = balances[asset]!.reserved + total
            claims[claim.id]!.committed[asset] = (claims[claim.id]!.committed[asset] ?? .zero) + total
        }
        let id = try p.identifier("id")
        guard let payableAt = entry.time.adding(seconds: releaseDelaySeconds) else { throw FundError(.invalidParameter, "release delay runs past year 9999") }
        releases[id] = Release(id: id, claim: claim.id, payouts: payouts, totals: totals, status: .pending,
                               approvedAt: entry.time, payableAt: payableAt, reference: nil)
    }

    private func pendingRelease(_ p: Payload) throws(FundError) -> Release {
        let id = try p.identifier("release")
        guard let release = releases[id] else { throw FundError(.unknownRelease, "unknown release \"\(id)\"") }
        guard release.status == .pending else { throw FundError(.releaseNotPending, "release \(id) is \(release.status.rawValue), not pending") }
        return release
    }

    private mutating func cancel(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .cancel, fields: ["release", "reason"])
        try requireDelegates(entry, action: "cancelling a release")
        let release = try pendingRelease(p)
        _ = try p.string("reason", maxLength: 2_000)
        for (asset, total) in release.totals {
            balances[asset]!.reserved = balances[asset]!.reserved - total
            claims[release.claim]!.committed[asset] = claims[release.claim]!.committed[asset]! - total
        }
        releases[release.id]?.status = .cancelled
    }

    private mutating func settle(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .settle, fields: ["release", "reference"])
        try requireDelegates(entry, action: "settling a release")
        let release = try pendingRelease(p)
        guard entry.time >= release.payableAt else {
            throw FundError(.tooEarly, "release \(release.id) becomes payable at \(release.payableAt) (approved \(release.approvedAt) + \(releaseDelaySeconds) s delay); entry time is \(entry.time)")
        }
        for (asset, total) in release.totals {
            balances[asset]!.reserved = balances[asset]!.reserved - total
            balances[asset]!.paid = balances[asset]!.paid + total
            claims[release.claim]!.paid[asset] = (claims[release.claim]!.paid[asset] ?? .zero) + total
        }
        releases[release.id]?.status = .settled
        releases[release.id]?.reference = try p.string("reference", maxLength: 1_000)
    }

    // MARK: - Delegates and policy

    private mutating func rotate(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .rotate, fields: ["delegates", "threshold", "petitionThreshold"])
        let (newDelegates, newThreshold, newPetitionThreshold) = try Self.delegateSet(p, context: "rotate")
        for delegate in newDelegates {
            if let member = members.values.first(where: { $0.key == delegate.key }) {
                throw FundError(.duplicateKey, "new delegate key \(delegate.key.fingerprint) is member \(member.id)'s key")
            }
        }
        let newKeys = Set(newDelegates.map(\.key))
        try requireDelegates(entry, action: "rotating delegates (current set)", alsoAllowed: newKeys)
        let newCount = entry.signatures.filter { newKeys.contains($0.publicKey) }.count
        guard newCount >= newThreshold else {
            throw FundError(.threshold, "rotating delegates needs \(newThreshold) approvals of the new set v\(delegateSet + 1) as well, found \(newCount)")
        }
        delegates = newDelegates
        threshold = newThreshold
        petitionThreshold = newPetitionThreshold
        delegateSet += 1
    }

    private mutating func changePolicy(_ entry: Entry) throws(FundError) {
        let p = try payload(entry, .policy, fields: ["policy", "releaseDelaySeconds"])
        try requireDelegates(entry, action: "changing the policy")
        let changed = try Self.policy(try p.object("policy"), assets: assets)
        // Payments are kept per period, in the dues asset: another asset or period length
        // would re-read every past payment in different units or periods.
        guard changed.asset == policy.asset, changed.periodSeconds == policy.periodSeconds else {
            throw FundError(.invalidParameter, "policy: the dues asset (\(policy.asset)) and the period length (\(policy.periodSeconds) s) are fixed at genesis; a policy entry may change the rate, floor, cap and grace")
        }
        policy = changed
        releaseDelaySeconds = try p.integer("releaseDelaySeconds", in: FundLimits.releaseDelaySeconds)
    }

    private static func delegateSet(_ p: Payload, context: String) throws(FundError) -> ([Delegate], Int, Int) {
        var delegates: [Delegate] = []
        for (index, item) in try p.array("delegates", count: FundLimits.delegates).enumerated() {
            let d = try Payload(item, context: "\(context) delegate \(index + 1)", allowed: ["key", "platform"])
            let delegate = Delegate(key: try d.key("key"), platform: try d.string("platform", maxLength: 200))
            if delegates.contains(where: { $0.key == delegate.key }) {
                throw FundError(.duplicateKey, "\(context): delegate \(index + 1) repeats the key \(delegate.key.fingerprint)")
            }
            if delegates.contains(where: { $0.platform == delegate.platform }) {
                throw FundError(.invalidParameter, "\(context): delegate \(index + 1) repeats the platform \(delegate.platform); each delegate comes from a different platform")
            }
            delegates.append(delegate)
        }
        let threshold = Int(try p.integer("threshold", in: 1...Int64(delegates.count)))
        guard threshold * 2 > delegates.count else {
            throw FundError(.invalidParameter, "\(context): threshold \(threshold) of \(delegates.count) is not a majority")
        }
        let petition = Int(try p.integer("petitionThreshold", in: Int64(FundLimits.petitionThreshold.lowerBound)...Int64(FundLimits.petitionThreshold.upperBound)))
        return (delegates, threshold, petition)
    }

    private static func policy(_ value: JSONValue, assets: [String: Int]) throws(FundError) -> ContributionPolicy {
        let p = try Payload(value, context: "policy", allowed: ["asset", "ratePerMillion", "floor", "cap", "periodSeconds", "graceSeconds"])
        let asset = try p.string("asset", maxLength: 12)
        guard assets[asset] != nil else { throw FundError(.unknownAsset, "policy: dues asset \(asset) is not one of the fund's assets") }
        let periodSeconds = try p.integer("periodSeconds", in: FundLimits.periodSeconds)
        let policy = ContributionPolicy(
            asset: asset, ratePerMillion: try p.integer("ratePerMillion", in: 0...1_000_000),
            floor: try p.amount("floor", allowZero: true), cap: try p.amount("cap", allowZero: true),
            periodSeconds: periodSeconds, graceSeconds: try p.integer("graceSeconds", in: 0...periodSeconds * 12))
        guard policy.floor <= policy.cap else { throw FundError(.invalidParameter, "policy: floor \(policy.floor) is above cap \(policy.cap)") }
        return policy
    }
}

import BackstopCrypto
import BackstopLedger

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
    /// Open petitions (not rejected, not fully released) about one platform, in a version-2
    /// fund.
    public static let openPetitionsPerPlatform = 3
    /// Open petitions in a version-2 fund.
    public static let openPetitions = 64
    /// How far clocks may disagree: an entry may be stamped this much ahead of the writer's
    /// clock, and of the witnesses' times.
    public static let clockToleranceSeconds: Int64 = 300
    /// How old a witness's copy of the ledger may be when it cosigns: entries it had not
    /// seen at its last cosignature may not be stamped more than this before that
    /// cosignature (else they were backdated).
    public static let witnessWindowSeconds: Int64 = 3_600
}

/// An entry that every rule accepted, ready to be recorded and applied.
///
/// Made by ``FundState/check(_:hash:authorize:)``; applying it to the state it was checked
/// against cannot fail.
public struct CheckedEntry: Sendable {
    /// The entry.
    public let entry: Entry
    /// Its hash.
    public let hash: [UInt8]
    /// Its payload, read.
    public let payload: Payload
    let context: RuleContext
}

extension FundState {
    /// The fund as its genesis entry (entry 0) sets it up.
    ///
    /// - Throws: ``FundError`` naming the first rule the genesis breaks.
    public init(genesis entry: Entry, hash: [UInt8]) throws(FundError) {
        do throws(FundError) {
            guard entry.seq == 0, entry.kind == EntryKind.genesis.rawValue else {
                throw FundError(.notInitialized, "entry 0 must be a genesis, found \(SafeText.quoted(entry.kind))")
            }
            let payload = try Payload(entry.body, expected: .genesis)
            try self.init(genesis: payload, time: entry.time, hash: hash)
            try GenesisPayload.signers(of: payload).authorize(entry.signatures)
        } catch {
            var error = error
            error.seq = entry.seq
            throw error
        }
    }

    /// The fund a genesis payload would start at `time`, with every rule checked but the
    /// signatures: what `backstop genesis draft` checks before anyone signs.
    public static func preview(genesis payload: Payload, at time: Timestamp) throws(FundError) -> FundState {
        try FundState(genesis: payload, time: time, hash: [UInt8](repeating: 0, count: 32))
    }

    /// Checks one entry after the last against every rule, changing nothing.
    ///
    /// With `authorize` false the signers are not checked: a dry run of a payload that has
    /// no signatures yet.
    ///
    /// - Throws: ``FundError`` with the entry's sequence number and the first rule broken.
    public func check(_ entry: Entry, hash: [UInt8], authorize: Bool = true) throws(FundError) -> CheckedEntry {
        try check(entry, hash: hash, authorize: authorize, prepared: nil)
    }

    /// Reads an entry's payload, which needs no state: `Fund.verify` does it for many
    /// entries at once, on all cores, before checking each in order.
    static func prepare(_ entry: Entry) -> Result<Payload, FundError>? {
        guard let kind = EntryKind(rawValue: entry.kind), kind.rules != nil else { return nil }
        return Result { () throws(FundError) in try Payload(entry.body, expected: kind) }
    }

    func check(_ entry: Entry, hash: [UInt8], authorize: Bool, prepared: Result<Payload, FundError>?) throws(FundError) -> CheckedEntry {
        do throws(FundError) {
            guard entry.seq == entryCount else {
                throw FundError(.malformedPayload, "entry \(entry.seq) does not follow entry \(entryCount - 1)")
            }
            guard entry.time >= lastTime else { throw FundError(.timeBackwards, "time \(entry.time) is before the previous entry's \(lastTime)") }
            if let witnessed = witnessedTime, entry.time.secondsSinceEpoch < witnessed.secondsSinceEpoch - FundLimits.clockToleranceSeconds {
                throw FundError(.timeBackwards, "time \(entry.time) is before the fund's witnessed time \(witnessed) (a recorded checkpoint's cosignatures show that time had come)")
            }
            guard let kind = EntryKind(rawValue: entry.kind), kind.rules != nil else {
                throw FundError(.malformedPayload, "kind \(SafeText.quoted(entry.kind)) is not an entry kind after genesis (\(EntryKind.allCases.dropFirst().map(\.rawValue).joined(separator: ", ")))")
            }
            let payload: Payload
            switch prepared {
            case .success(let read)?: payload = read
            case .failure(let error)?: throw error
            case nil: payload = try Payload(entry.body, expected: kind)
            }
            let body = payload.body as! any KindRules
            let context = RuleContext(seq: entry.seq, time: entry.time, header: payload.header, signatures: entry.signatures)
            try checkHeader(payload.header, body, context)
            if authorize { try body.signers(in: self).authorize(entry.signatures) }
            try body.check(in: self, context)
            return CheckedEntry(entry: entry, hash: hash, payload: payload, context: context)
        } catch {
            var error = error
            error.seq = entry.seq
            throw error
        }
    }

    /// Applies one entry after the last: checks every rule, then updates the state.
    ///
    /// On a refusal the state is unchanged.
    public mutating func apply(_ entry: Entry, hash: [UInt8]) throws(FundError) {
        commit(try check(entry, hash: hash))
    }

    /// Applies one entry whose payload was read already (``prepare(_:)``).
    mutating func apply(_ entry: Entry, hash: [UInt8], prepared: Result<Payload, FundError>?) throws(FundError) {
        commit(try check(entry, hash: hash, authorize: true, prepared: prepared))
    }

    /// Applies an entry checked against this very state.
    mutating func commit(_ checked: CheckedEntry) {
        precondition(checked.entry.seq == entryCount && checked.entry.prev == head, "a checked entry applied to another state")
        usedIds.insert(idKey(checked.context.header, checked.payload.body as! any KindRules), seq: checked.entry.seq)
        (checked.payload.body as! any KindRules).apply(to: &self, checked.context)
        entryCount += 1
        head = checked.hash
        lastTime = checked.entry.time
        frontier.append(checked.hash)
        uncheckpointedTimes.append(checked.entry.time)
        checkInvariants()
    }

    /// Runs every rule but the signers' on `payload` as if it were recorded at `time`:
    /// what `propose` and `approve` check before anyone signs.
    public func dryRun(_ payload: Payload, at time: Timestamp) throws(FundError) {
        let entry: Entry
        do { entry = try Entry(seq: entryCount, prev: head, time: max(time, lastTime), kind: payload.kind.rawValue, body: payload.json, signatures: []) } catch {
            throw FundError(.malformedPayload, error.reason)
        }
        _ = try check(entry, hash: head, authorize: false)
    }

    /// Who must sign `payload`, and who may.
    public func signers(for payload: Payload) throws(FundError) -> SignerPolicy {
        if payload.kind == .genesis { return try GenesisPayload.signers(of: payload) }
        return try (payload.body as! any KindRules).signers(in: self)
    }

    /// Debug-build check of what no sequence of accepted entries may break.
    private func checkInvariants() {
        for (asset, balance) in balances {
            assert(balance.reserved + balance.paid <= balance.contributed, "\(asset): reserved + paid above contributed")
        }
    }

    /// What every payload must satisfy: this fund, a new id, not expired, the current
    /// delegate set (and its roster), and units that match the fund.
    private func checkHeader(_ header: PayloadHeader, _ body: any KindRules, _ entry: RuleContext) throws(FundError) {
        let fund = header.fund ?? ""
        guard fund == Hex.encode(fundId) else { throw FundError(.wrongFund, "payload is for fund \(fund), this fund is \(Hex.encode(fundId))") }
        if let earlier = usedIds[idKey(header, body)] {
            throw FundError(.replayedId, "payload id \"\(header.id)\" was already used by entry \(earlier)\(version >= 2 ? " (\(body.idScope(header)))" : ""): this payload is not recorded; if entry \(earlier) is not the same action, draft it again with a new id")
        }
        guard entry.time <= header.expires else { throw FundError(.expired, "payload expired at \(header.expires); entry time is \(entry.time)") }
        if let set = header.delegateSet {
            guard set == delegateSet else {
                throw FundError(.wrongDelegateSet, "payload is for delegate set v\(set), the current set is v\(delegateSet); approvals for another set do not count")
            }
            if let roster = header.roster, roster != self.roster {
                throw FundError(.wrongDelegateSet, "the payload's roster does not name the delegates of set v\(delegateSet) as they are: \(Self.rosterDifference(roster, self.roster))")
            }
        }
        if let units = header.units {
            let named = body.assetsNamed(in: self).filter { assets[$0] != nil }
            for (symbol, decimals) in units.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                guard named.contains(symbol) else { throw FundError(.wrongUnits, "units names \(symbol), which the payload does not use") }
                guard assets[symbol] == decimals else {
                    throw FundError(.wrongUnits, "units gives \(symbol) \(decimals) decimals; this fund's \(symbol) has \(assets[symbol]!)")
                }
            }
            for symbol in named where units[symbol] == nil { throw FundError(.wrongUnits, "units does not give the decimals of \(symbol)") }
        }
    }

    private static func rosterDifference(_ payload: [RosterEntry], _ ledger: [RosterEntry]) -> String {
        guard payload.count == ledger.count else { return "it names \(payload.count) delegates, the set has \(ledger.count)" }
        let index = payload.indices.first { payload[$0] != ledger[$0] } ?? 0
        return "delegate-\(index + 1) is \(SafeText.escape(ledger[index].platform)) \(ledger[index].fingerprint.prefix(16))…, the payload says \(SafeText.escape(payload[index].platform)) \(payload[index].fingerprint.prefix(16))…"
    }

    // MARK: - Shared checks for the kinds

    /// The current delegates' policy for a delegate action.
    func delegatePolicy(_ action: String) -> SignerPolicy {
        SignerPolicy(action: action, groups: [SignerGroup(role: .delegates(set: delegateSet), keys: delegateKeys, threshold: threshold)])
    }

    /// The decimals of `symbol`, which must be one of the fund's assets.
    func requireAsset(_ symbol: String, _ what: String) throws(FundError) -> Int {
        guard let decimals = assets[symbol] else {
            let held = assets.keys.sorted()
            throw FundError(.unknownAsset, "\(what): unknown asset \(symbol); this fund holds \(held.joined(separator: ", "))\(Identifiers.didYouMean(symbol, among: held))")
        }
        return decimals
    }

    /// The member `id`, which must exist.
    func requireMember(_ id: String) throws(FundError) -> Member {
        guard let member = members[id] else {
            throw FundError(.unknownMember, "unknown member \"\(id)\"\(Identifiers.didYouMean(id, among: Array(members.keys)))")
        }
        return member
    }

    /// Who uses `key` now: a current delegate or a member, or nil.
    func keyInUse(_ key: PublicKey) -> String? {
        if let name = delegateName(key) { return name }
        if let member = members.values.first(where: { $0.key == key }) { return "member \(member.id)" }
        return assessors.values.first { $0.key == key }.map { "assessor \($0.id)" }
    }

    /// The claim `id`, which must exist and be open.
    func openClaim(_ id: String) throws(FundError) -> Claim {
        guard let claim = claims[id] else {
            throw FundError(.unknownClaim, "unknown claim \"\(id)\"\(Identifiers.didYouMean(id, among: Array(claims.keys)))")
        }
        guard claim.status == .open else { throw FundError(.claimNotOpen, "claim \(id) was rejected") }
        return claim
    }

    /// The release `id`, which must exist and be pending.
    func pendingRelease(_ id: String) throws(FundError) -> Release {
        guard let release = releases[id] else {
            throw FundError(.unknownRelease, "unknown release \"\(id)\"\(Identifiers.didYouMean(id, among: Array(releases.keys)))")
        }
        guard release.status == .pending else { throw FundError(.releaseNotPending, "release \(id) is \(release.status.rawValue), not pending") }
        return release
    }
}

extension FundState {
    /// What `entry` (the next entry after this state) did, in one line, and who signed it:
    /// "exchange-a contributed 25,000 USDC for period 3, ref 0xabc1; signed by member exchange-a".
    /// Every string from the ledger is shown through ``SafeText``.
    public func summary(of entry: Entry) -> String {
        guard let kind = EntryKind(rawValue: entry.kind), kind.rules != nil,
              let payload = try? Payload(entry.body, expected: kind), let body = payload.rules
        else { return "\(SafeText.escape(entry.kind)) (a payload these rules do not read)" }
        let context = RuleContext(seq: entry.seq, time: entry.time, header: payload.header, signatures: entry.signatures)
        let summary = body.summary(in: self, context)
        return entry.signatures.isEmpty ? summary : summary + "; signed by " + signerNames(entry.signatures, for: body)
    }

    /// "delegate-1, -3, -4, -6", "member exchange-a", "100 petitioners".
    func signerNames(_ signatures: [EntrySignature], for body: any KindRules) -> String {
        guard let policy = try? body.signers(in: self), policy.petitionThreshold == nil else { return "\(signatures.count) petitioners" }
        var delegateNumbers: [Int] = []
        var others: [String] = []
        for signature in signatures {
            if let index = delegates.firstIndex(where: { $0.key == signature.publicKey }) {
                delegateNumbers.append(index + 1)
            } else {
                others.append(policy.candidates.first { $0.key == signature.publicKey }?.name ?? "key \(signature.publicKey.fingerprint.prefix(16))…")
            }
        }
        var parts: [String] = []
        if !delegateNumbers.isEmpty {
            let sorted = delegateNumbers.sorted()
            parts.append("delegate-\(sorted[0])" + sorted.dropFirst().map { ", -\($0)" }.joined())
        }
        return (parts + others).joined(separator: ", ")
    }
}

import BackstopCrypto
import BackstopLedger

/// A key with the name people know it by, such as "delegate-3 (Kraken)" or "member exchange-a".
public struct NamedKey: Sendable, Hashable {
    /// "delegate-3 (Kraken)", "new delegate-7 (Bitfinex)", "member exchange-a".
    public let name: String
    /// The key.
    public let key: PublicKey

    /// A named key.
    public init(name: String, key: PublicKey) {
        self.name = name
        self.key = key
    }
}

/// Keys of which at least `threshold` must sign.
public struct SignerGroup: Sendable {
    /// Whose keys these are.
    public enum Role: Sendable, Equatable {
        /// The current delegates, of set version `set`.
        case delegates(set: Int64)
        /// The delegates a `rotate` installs, as set version `set`.
        case newDelegates(set: Int64)
        /// The delegates a genesis names.
        case genesisDelegates
        /// A member's current key.
        case member(String)
        /// A registered assessor's key.
        case assessor(String)
    }

    /// Whose keys these are.
    public let role: Role
    /// The keys, in the order people number them.
    public let keys: [NamedKey]
    /// How many distinct keys of the group must sign.
    public let threshold: Int

    /// "a delegate of set v2".
    public var roleDescription: String {
        switch role {
        case .delegates(let set): "a delegate of set v\(set)"
        case .newDelegates(let set): "a delegate of the new set v\(set)"
        case .genesisDelegates: "a delegate named in the genesis"
        case .member(let id): "member \(id)'s key"
        case .assessor(let id): "assessor \(id)'s key"
        }
    }

    /// How many of `signatures` are by keys of this group.
    public func count(_ signatures: [EntrySignature]) -> Int {
        signatures.filter { signature in keys.contains { $0.key == signature.publicKey } }.count
    }

    /// The refusal when only `found` of the group signed.
    func shortfall(action: String, found: Int) -> FundError {
        switch role {
        case .delegates(let set):
            FundError(.threshold, "\(action) needs \(threshold) distinct delegate approvals for delegate set v\(set), found \(found)")
        case .newDelegates(let set):
            FundError(.threshold, "\(action) needs \(threshold) distinct approvals of the new delegate set v\(set) as well, found \(found)")
        case .genesisDelegates:
            FundError(.threshold, "\(action) needs \(threshold) distinct delegate approvals, found \(found)")
        case .member(let id):
            FundError(.unauthorizedSigner, "\(action) needs the signature of member \(id)'s key \(keys.first?.key.fingerprint ?? "?")")
        case .assessor(let id):
            FundError(.unauthorizedSigner, "\(action) needs the signature of assessor \(id)'s key \(keys.first?.key.fingerprint ?? "?")")
        }
    }
}

/// Who must sign an entry, and who may: declared once per kind, and used by the rules, by
/// intake (matching signature files to signers) and by `backstop check`.
public struct SignerPolicy: Sendable {
    /// What is being signed, for messages: "release", "admitting a member".
    public let action: String
    /// Groups whose thresholds must all be met. With no ``petitionThreshold``, a signature
    /// by a key outside every group is refused.
    public let groups: [SignerGroup]
    /// For a petition: any keys may sign, and at least this many distinct ones must.
    public let petitionThreshold: Int?

    /// A policy of `groups`.
    init(action: String, groups: [SignerGroup]) {
        self.action = action
        self.groups = groups
        self.petitionThreshold = nil
    }

    /// A petition's policy: any `threshold` distinct keys.
    init(action: String, petitionThreshold: Int) {
        self.action = action
        self.groups = []
        self.petitionThreshold = petitionThreshold
    }

    /// Every key that may sign, once each, in group order.
    public var candidates: [NamedKey] {
        var seen: Set<PublicKey> = []
        return groups.flatMap(\.keys).filter { seen.insert($0.key).inserted }
    }

    /// The rules' check of a stored entry's signatures (each already verified over the payload
    /// and by a distinct key): nobody outside the groups, and every threshold met.
    func authorize(_ signatures: [EntrySignature]) throws(FundError) {
        if let petitionThreshold {
            guard signatures.count >= petitionThreshold else {
                throw FundError(.petitionThreshold, "a petition needs \(petitionThreshold) valid signatures from distinct keys, found \(signatures.count)")
            }
            return
        }
        for signature in signatures where !groups.contains(where: { $0.keys.contains { $0.key == signature.publicKey } }) {
            let roles = groups.map(\.roleDescription).joined(separator: " or ")
            throw FundError(.unauthorizedSigner, "\(action): signer \(signature.publicKey.fingerprint) may not sign; it is not \(roles)")
        }
        for group in groups {
            let found = group.count(signatures)
            guard found >= group.threshold else { throw group.shortfall(action: action, found: found) }
        }
    }
}

/// A signature file as it arrives: its name (for messages), its DER bytes, and the
/// signer's public key when one came with it (a `NAME.pub.pem` beside `NAME.sig`).
public struct SignatureFile: Sendable {
    /// The file's name or path, for messages.
    public let name: String
    /// The DER signature.
    public let der: [UInt8]
    /// The signer's public key, when it came with the signature.
    public let publicKey: PublicKey?
    /// Why the key file beside the signature could not be read, when it could not.
    public let keyProblem: String?

    /// A signature file.
    public init(name: String, der: [UInt8], publicKey: PublicKey? = nil, keyProblem: String? = nil) {
        self.name = name
        self.der = der
        self.publicKey = publicKey
        self.keyProblem = keyProblem
    }
}

/// What intake found out about one signature file.
public enum SignatureVerdict: Sendable, Equatable {
    /// Valid, by a key that may sign: it counts. A high S is accepted and stored low-S.
    case counted(signer: String, highS: Bool)
    /// Valid, but the same key already signed: it adds nothing.
    case duplicate(signer: String)
    /// Valid, by a key that was a delegate of an earlier set but is not one now.
    case formerDelegate(signer: String)
    /// Valid, by a key the fund knows (a member's, say) that may not sign this payload.
    case notAllowed(signer: String)
    /// Valid, by the key that came with it, which the fund does not know.
    case stranger(fingerprint: String)
    /// Does not verify over this payload: by the named key over another payload, or (nil)
    /// by no key the fund knows.
    case otherPayload(signer: String?)
    /// The key that came with it cannot be read.
    case unreadableKey(reason: String)
    /// Not a strict DER ECDSA signature.
    case malformed(reason: String)

    /// A stable code for programs: valid, duplicate, staleSet, notAllowed, stranger,
    /// otherPayload, unreadableKey, malformed.
    public var code: String {
        switch self {
        case .counted: "valid"
        case .duplicate: "duplicate"
        case .formerDelegate: "staleSet"
        case .notAllowed: "notAllowed"
        case .stranger: "stranger"
        case .otherPayload: "otherPayload"
        case .unreadableKey: "unreadableKey"
        case .malformed: "malformed"
        }
    }

    /// True when the file counts.
    public var counts: Bool { if case .counted = self { true } else { false } }

    /// The signer's name, when it is known.
    public var signer: String? {
        switch self {
        case .counted(let name, _), .duplicate(let name), .formerDelegate(let name), .notAllowed(let name): name
        case .otherPayload(let name): name
        case .stranger(let fingerprint): "key \(fingerprint)"
        case .unreadableKey, .malformed: nil
        }
    }

    /// One clause for people.
    public var explanation: String {
        switch self {
        case .counted(let signer, let highS): "valid, by \(signer)" + (highS ? " (high S: accepted, stored as low S)" : "")
        case .duplicate(let signer): "duplicate: \(signer) already signed"
        case .formerDelegate(let signer): "by \(signer), which is not a delegate of the current set"
        case .notAllowed(let signer): "by \(signer), which may not sign this payload"
        case .stranger(let fingerprint): "by key \(fingerprint), which is not a delegate's"
        case .otherPayload(let signer?): "by \(signer)'s key, but over another payload"
        case .otherPayload(nil): "verifies for no delegate over this payload (signed another payload, or by a key that is not a delegate's)"
        case .unreadableKey(let reason): "its public key cannot be read: \(SafeText.sanitize(reason))"
        case .malformed(let reason): "not a DER ECDSA signature: \(SafeText.sanitize(reason))"
        }
    }
}

/// Signature files matched to the keys that may sign: who signed, who did not, and what
/// each file that does not count is.
public struct SignatureIntake: Sendable {
    /// The policy the files were matched against.
    public let policy: SignerPolicy
    /// Each file with its verdict, in the order given.
    public let files: [(name: String, verdict: SignatureVerdict)]
    /// The signatures that count, low-S, one per key.
    public let signatures: [EntrySignature]

    /// Matches `files`, signatures over `message`, to `policy`. `formerDelegates` and
    /// `others` (members, say) are keys the fund knows that may not sign this payload, so
    /// that their signatures are named too.
    public init(message: [UInt8], files: [SignatureFile], policy: SignerPolicy, formerDelegates: [NamedKey] = [], others: [NamedKey] = []) {
        let digest = (try? SHA256.hash(message)) ?? []
        var results: [(String, SignatureVerdict)] = []
        var counted: [PublicKey: EntrySignature] = [:]
        var order: [PublicKey] = []
        let candidates = policy.candidates
        for file in files {
            func verifying(_ key: PublicKey) -> ECDSASignature? {
                guard let signature = try? ECDSASignature(derRepresentation: file.der, curve: key.curve, policy: .intake),
                      key.isValidSignature(signature, forDigest: digest)
                else { return nil }
                return signature
            }
            var parseError: String? = nil
            for curve in Curve.allCases {
                do { _ = try ECDSASignature(derRepresentation: file.der, curve: curve, policy: .intake); parseError = nil; break } catch {
                    parseError = parseError ?? "\(error)"
                }
            }
            if let parseError {
                results.append((file.name, .malformed(reason: parseError)))
                continue
            }
            if let keyProblem = file.keyProblem, policy.petitionThreshold != nil {
                results.append((file.name, .unreadableKey(reason: keyProblem)))
                continue
            }
            // A petition: the key that came with the signature is the signer.
            if policy.petitionThreshold != nil {
                guard let key = file.publicKey else {
                    results.append((file.name, .unreadableKey(reason: "no public key came with it")))
                    continue
                }
                guard let signature = verifying(key) else {
                    results.append((file.name, .otherPayload(signer: "key \(key.fingerprint)")))
                    continue
                }
                if counted[key] != nil {
                    results.append((file.name, .duplicate(signer: "key \(key.fingerprint)")))
                } else {
                    counted[key] = EntrySignature(publicKey: key, signature: signature)
                    order.append(key)
                    results.append((file.name, .counted(signer: "key \(key.fingerprint)", highS: !signature.isLowS)))
                }
                continue
            }
            if let match = candidates.lazy.compactMap({ candidate in verifying(candidate.key).map { (candidate, $0) } }).first {
                if counted[match.0.key] != nil {
                    results.append((file.name, .duplicate(signer: match.0.name)))
                } else {
                    counted[match.0.key] = EntrySignature(publicKey: match.0.key, signature: match.1)
                    order.append(match.0.key)
                    results.append((file.name, .counted(signer: match.0.name, highS: !match.1.isLowS)))
                }
            } else if let former = formerDelegates.first(where: { verifying($0.key) != nil }) {
                results.append((file.name, .formerDelegate(signer: former.name)))
            } else if let other = others.first(where: { verifying($0.key) != nil }) {
                results.append((file.name, .notAllowed(signer: other.name)))
            } else if let key = file.publicKey {
                if verifying(key) != nil {
                    results.append((file.name, .stranger(fingerprint: key.fingerprint)))
                } else {
                    let name = (candidates + formerDelegates + others).first { $0.key == key }?.name ?? "key \(key.fingerprint)"
                    results.append((file.name, .otherPayload(signer: name)))
                }
            } else {
                results.append((file.name, .otherPayload(signer: nil)))
            }
        }
        self.policy = policy
        self.files = results
        self.signatures = order.map { counted[$0]! }
    }

    /// Names of the keys of `group` that signed.
    public func signed(in group: SignerGroup) -> [String] {
        group.keys.filter { key in signatures.contains { $0.publicKey == key.key } }.map(\.name)
    }

    /// Names of the keys of `group` that did not sign.
    public func missing(in group: SignerGroup) -> [String] {
        group.keys.filter { key in !signatures.contains { $0.publicKey == key.key } }.map(\.name)
    }

    /// True when every threshold is met by the signatures that count.
    public var isEnough: Bool {
        if let threshold = policy.petitionThreshold { return signatures.count >= threshold }
        return policy.groups.allSatisfy { $0.count(signatures) >= $0.threshold }
    }

    /// "found 99 valid distinct (2 duplicates, 1 invalid)", for petitions.
    public var petitionSummary: String {
        var parts: [String] = []
        let duplicates = files.filter { if case .duplicate = $0.verdict { true } else { false } }.count
        let invalid = files.filter { if case .otherPayload = $0.verdict { true } else if case .malformed = $0.verdict { true } else { false } }.count
        let unreadable = files.filter { if case .unreadableKey = $0.verdict { true } else { false } }.count
        if duplicates > 0 { parts.append("\(duplicates) duplicate\(duplicates == 1 ? "" : "s")") }
        if invalid > 0 { parts.append("\(invalid) invalid") }
        if unreadable > 0 { parts.append("\(unreadable) unreadable or unsupported key\(unreadable == 1 ? "" : "s")") }
        return "found \(signatures.count) valid distinct" + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
    }

    /// "x.sig: duplicate: delegate-1 (Binance) already signed; y.sig: not a DER ...", for
    /// every file that does not count, or "" when they all do.
    public var setAside: String {
        files.filter { !$0.verdict.counts }.map { "\(SafeText.escape($0.name)): \($0.verdict.explanation)" }.joined(separator: "; ")
    }

    /// The refusal when a threshold is not met, naming who signed, who did not, and every
    /// file that did not count; nil when every threshold is met.
    public var shortfall: FundError? {
        if let threshold = policy.petitionThreshold {
            guard signatures.count < threshold else { return nil }
            return FundError(.petitionThreshold, "a petition needs \(threshold) valid signatures from distinct keys, \(petitionSummary)")
        }
        for group in policy.groups where group.count(signatures) < group.threshold {
            var message = group.shortfall(action: policy.action, found: group.count(signatures)).reason
            if case .member = group.role {} else {
                message += " valid; signed: \(signed(in: group).joined(separator: ", ")); not signed: \(missing(in: group).joined(separator: ", "))"
            }
            if !setAside.isEmpty { message += "; set aside: \(setAside)" }
            return FundError(group.shortfall(action: policy.action, found: 0).rule, message)
        }
        return nil
    }
}

import BackstopCrypto
import BackstopLedger

/// Signatures as they arrive (files, in any order, from openssl or Backstop), matched to the
/// keys that may sign: who signed, who signed twice, and what matched nobody.
public struct ApprovalIntake: Sendable {
    /// The distinct matched signatures, low-S, ready to store.
    public let signatures: [EntrySignature]
    /// Names of the keys that signed, in the order of the candidate list.
    public let signers: [String]
    /// Names of the candidates that did not sign.
    public let missing: [String]
    /// One name per extra signature by a key that had already signed.
    public let duplicates: [String]
    /// Signatures that verify for none of the candidates (another payload, another key).
    public let unmatched: Int
    /// Signatures that are not strict DER ECDSA at all.
    public let malformed: Int

    /// Matches each signature in `signatureFiles` (DER) over `message` to one of `candidates`.
    public init(message: [UInt8], signatureFiles: [[UInt8]], candidates: [(name: String, key: PublicKey)]) {
        var matched: [Int: EntrySignature] = [:]
        var duplicates: [String] = []
        var unmatched = 0, malformed = 0
        for der in signatureFiles {
            var parsedOnce = false
            var found: (index: Int, signature: ECDSASignature)? = nil
            for (index, candidate) in candidates.enumerated() {
                guard let parsed = try? ECDSASignature(derRepresentation: der, curve: candidate.key.curve, policy: .intake) else { continue }
                parsedOnce = true
                if candidate.key.isValidSignature(parsed, for: message) {
                    found = (index, parsed)
                    break
                }
            }
            if let found {
                // The same key again, whatever the signature bytes (another signing, the
                // high-S twin, the same file twice), adds nothing.
                if matched[found.index] == nil {
                    matched[found.index] = EntrySignature(publicKey: candidates[found.index].key, signature: found.signature)
                } else {
                    duplicates.append(candidates[found.index].name)
                }
            } else if parsedOnce {
                unmatched += 1
            } else {
                malformed += 1
            }
        }
        self.signatures = matched.keys.sorted().map { matched[$0]! }
        self.signers = matched.keys.sorted().map { candidates[$0].name }
        self.missing = candidates.indices.filter { matched[$0] == nil }.map { candidates[$0].name }
        self.duplicates = duplicates.sorted()
        self.unmatched = unmatched
        self.malformed = malformed
    }

    /// "(1 duplicate of delegate-2, 1 signer not a delegate)", or "" when nothing was set aside.
    public var setAsideSummary: String {
        var parts = Dictionary(grouping: duplicates, by: { $0 }).sorted { $0.key < $1.key }.map { "\($0.value.count) duplicate of \($0.key)" }
        if unmatched > 0 { parts.append("\(unmatched) signer\(unmatched == 1 ? "" : "s") not a delegate or not over this payload") }
        if malformed > 0 { parts.append("\(malformed) not a DER ECDSA signature") }
        return parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")"
    }
}

/// Petition signatures: each arrives with the petitioner's public key.
public struct PetitionIntake: Sendable {
    /// The distinct valid signatures, low-S.
    public let signatures: [EntrySignature]
    /// Signatures by a key that had already signed.
    public let duplicates: Int
    /// Signatures that do not verify, or are not strict DER.
    public let invalid: Int
    /// Keys that could not be read or are on an unsupported curve.
    public let unsupportedKeys: Int

    /// Checks each (SubjectPublicKeyInfo DER, signature DER) pair over `message`.
    public init(message: [UInt8], pairs: [(key: [UInt8], signature: [UInt8])]) {
        var byKey: [PublicKey: EntrySignature] = [:]
        var duplicates = 0, invalid = 0, unsupported = 0
        for pair in pairs {
            guard let key = try? PublicKey(derRepresentation: pair.key) else { unsupported += 1; continue }
            guard let signature = try? key.verify(signatureDER: pair.signature, for: message, policy: .intake) else { invalid += 1; continue }
            if byKey[key] != nil { duplicates += 1 } else { byKey[key] = EntrySignature(publicKey: key, signature: signature) }
        }
        self.signatures = Array(byKey.values)
        self.duplicates = duplicates
        self.invalid = invalid
        self.unsupportedKeys = unsupported
    }

    /// "found 99 valid distinct (2 duplicates, 1 invalid)".
    public var summary: String {
        var parts: [String] = []
        if duplicates > 0 { parts.append("\(duplicates) duplicate\(duplicates == 1 ? "" : "s")") }
        if invalid > 0 { parts.append("\(invalid) invalid") }
        if unsupportedKeys > 0 { parts.append("\(unsupportedKeys) unreadable or unsupported key\(unsupportedKeys == 1 ? "" : "s")") }
        return "found \(signatures.count) valid distinct" + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
    }
}

extension Fund {
    /// The keys that may approve a payload of `kind`, with their names: the current delegates,
    /// plus the new delegates for a rotation and the member's current key for a member-key
    /// rotation.
    public func candidates(for kind: EntryKind, payload: JSONValue) -> [(name: String, key: PublicKey)] {
        var list = state.delegates.enumerated().map { ("delegate-\($0.offset + 1) (\($0.element.platform))", $0.element.key) }
        if kind == .rotate, let items = payload["delegates"]?.arrayValue {
            for (index, item) in items.enumerated() {
                if let hex = item["key"]?.stringValue, let der = Hex.decode(hex), let key = try? PublicKey(derRepresentation: der),
                   !list.contains(where: { $0.1 == key }) {
                    list.append(("new delegate-\(index + 1) (\(item["platform"]?.stringValue ?? "?"))", key))
                }
            }
        }
        if kind == .memberKey || kind == .contribution || kind == .claim, let id = payload["member"]?.stringValue, let member = state.members[id] {
            list.append(("member \(id)", member.key))
        }
        return list
    }

    /// Submits a delegate (or member) action whose signatures arrive as DER files in any order.
    ///
    /// - Throws: ``FundError`` `.threshold` saying how many valid distinct approvals were
    ///   found and what was set aside, or whatever the rules refuse; the ledger is unchanged.
    @discardableResult
    public func submit(_ kind: EntryKind, payloadBytes: [UInt8], signatureFiles: [[UInt8]], time: Timestamp) throws -> Entry {
        let payload: JSONValue
        do { payload = try JSONParser.parseCanonical(payloadBytes) } catch {
            throw FundError(.malformedPayload, "the payload file is not canonical JSON (\(error)); sign the file exactly as Backstop wrote it")
        }
        let intake = ApprovalIntake(message: payloadBytes, signatureFiles: signatureFiles, candidates: candidates(for: kind, payload: payload))
        if kind.isDelegateAction {
            let delegateKeys = Set(state.delegates.map(\.key))
            let count = intake.signatures.filter { delegateKeys.contains($0.publicKey) }.count
            guard count >= state.threshold else {
                throw FundError(.threshold, "\(kind.rawValue) needs \(state.threshold) distinct delegate approvals for delegate set v\(state.delegateSet), found \(count) valid\(intake.setAsideSummary); signed: \(intake.signers.joined(separator: ", ")); not signed: \(intake.missing.joined(separator: ", "))")
            }
        }
        return try submit(kind, payload: payload, signatures: intake.signatures, time: time)
    }

    /// Files a claim by petition: the claim payload and each petitioner's key and signature.
    @discardableResult
    public func submitPetition(payloadBytes: [UInt8], pairs: [(key: [UInt8], signature: [UInt8])], time: Timestamp) throws -> Entry {
        let payload: JSONValue
        do { payload = try JSONParser.parseCanonical(payloadBytes) } catch {
            throw FundError(.malformedPayload, "the petition file is not canonical JSON (\(error))")
        }
        let intake = PetitionIntake(message: payloadBytes, pairs: pairs)
        guard intake.signatures.count >= state.petitionThreshold else {
            throw FundError(.petitionThreshold, "a petition needs \(state.petitionThreshold) valid signatures from distinct keys, \(intake.summary)")
        }
        return try submit(.claim, payload: payload, signatures: intake.signatures, time: time)
    }
}

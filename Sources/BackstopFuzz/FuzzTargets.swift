import BackstopCrypto
import BackstopFund
import BackstopLedger

/// The decoders that read untrusted bytes, as fuzz targets: each takes any bytes and must
/// return (accepting or refusing them) without trapping. `backstop-fuzz` runs them under
/// libFuzzer; the tests replay every input that ever crashed one (`Tests/Fixtures/fuzz`).
public enum FuzzTargets {
    /// Target names and their functions.
    public static let all: [(name: String, run: @Sendable ([UInt8]) -> Void)] = [
        ("line", line), ("payload", payload), ("json", json), ("key", key), ("signature", signature),
        ("amount", amount), ("time", time), ("note", note), ("restitution-proof", restitutionProof),
    ]

    /// The target called `name`.
    public static func named(_ name: String) -> (@Sendable ([UInt8]) -> Void)? {
        all.first { $0.name == name }?.run
    }

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// A ledger line: canonical form, fields, signatures, as the verifier reads it; then the
    /// body as a payload of the entry's kind.
    static let line: @Sendable ([UInt8]) -> Void = { bytes in
        // The seq the line says, so that the checks after the seq's are reached too.
        let seq = (try? JSONParser.parse(bytes))?["seq"]?.integerValue ?? 0
        guard let entry = try? Entry.decode(line: bytes, expectedSeq: seq) else { return }
        _ = try? Entry.hash(line: bytes)
        if let kind = EntryKind(rawValue: entry.kind) { _ = try? Payload(entry.body, expected: kind) }
    }

    /// A payload file: canonical JSON read as any kind, and shown as a signer sees it.
    static let payload: @Sendable ([UInt8]) -> Void = { bytes in
        guard let payload = try? Payload(bytes: bytes) else { return }
        _ = Screen(payload, state: nil).rendered
    }

    /// The JSON reader, lenient and canonical.
    static let json: @Sendable ([UInt8]) -> Void = { bytes in
        _ = try? JSONParser.parse(bytes)
        _ = try? JSONParser.parseCanonical(bytes, member: "state")
    }

    /// Public keys (DER and PEM) and private keys (PEM). Encrypted keys are read without a
    /// passphrase only: with one, a mutated PBKDF2 iteration count is a timeout, not a bug.
    static let key: @Sendable ([UInt8]) -> Void = { bytes in
        _ = try? PublicKey(derRepresentation: bytes)
        _ = try? PublicKey(pemRepresentation: text(bytes))
        _ = try? PrivateKey(pemRepresentation: text(bytes))
    }

    /// DER signatures on both curves, as stored (strict, low S) and as received (intake).
    static let signature: @Sendable ([UInt8]) -> Void = { bytes in
        for curve in Curve.allCases {
            _ = try? ECDSASignature(derRepresentation: bytes, curve: curve, policy: .strict)
            _ = (try? ECDSASignature(derRepresentation: bytes, curve: curve, policy: .intake))?.lowS
        }
    }

    /// Amounts in minor units and typed in asset units.
    static let amount: @Sendable ([UInt8]) -> Void = { bytes in
        let value = text(bytes)
        _ = Amount(minorUnits: value)
        for decimals in [0, 6, 18, 36] { _ = try? Amount(decimal: value, decimals: decimals) }
    }

    /// Times, and their arithmetic at the edges.
    static let time: @Sendable ([UInt8]) -> Void = { bytes in
        guard let time = Timestamp(text(bytes)) else { return }
        _ = time.description
        _ = time.adding(seconds: Int64.max)
        _ = time.adding(months: 120_000)
        _ = time.adding(months: -120_000)
    }

    /// Signed notes and checkpoints.
    static let note: @Sendable ([UInt8]) -> Void = { bytes in
        guard let note = try? SignedNote(parsing: text(bytes)) else {
            _ = try? Checkpoint(text: text(bytes))
            return
        }
        _ = try? Checkpoint(text: note.text)
    }

    /// A restitution proof file, checked.
    static let restitutionProof: @Sendable ([UInt8]) -> Void = { bytes in
        guard let json = try? JSONParser.parse(bytes), let proof = try? RestitutionProof(json: json) else { return }
        _ = proof.isValid
    }
}

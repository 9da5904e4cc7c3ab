import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Analyse a proposal and its signatures against the ledger, like a multisig wallet's queue. Never writes.",
        discussion: """
            Example: backstop check --ledger fund/ --proposal release.json release.d1.sig release.d5.sig sigs/
            For each signature file: valid or not, whose key (delegate-N (platform), member, \
            former delegate, or a stranger when NAME.pub.pem lies beside NAME.sig), and why not; \
            then who has signed, who is still missing, and whether the entry would be accepted \
            now, and if not, the first rule that refuses it. Exit 0 when it would be accepted \
            now (or is already recorded), 1 when not, 2 for unusable input.
            """
    )

    @Option(help: "The ledger (a folder or a database URL).")
    var ledger: String?

    @Option(help: "Instead of --ledger: the signing-queue service (backstop serve) holding the proposal and its signatures.")
    var server: String?

    @Option(help: "The payload file.")
    var proposal: String

    @Argument(help: "Signature files, or folders of .sig files.")
    var signatures: [String] = []

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: ArgumentHelp("Time to check at (default: now). For tests.", visibility: .private))
    var now: String?

    func run() throws {
        if let server {
            guard ledger == nil, signatures.isEmpty else { throw CLIError.badInput("with --server, give neither --ledger nor signature files: the service holds them") }
            return try checkAtService(server)
        }
        guard let ledger else { throw CLIError.badInput("give --ledger (a folder or a database URL) or --server (a backstop serve URL)") }
        let folder = try LedgerLocation(ledger)
        let state = try readFund(folder)
        let (payload, bytes) = try readPayload(proposal)
        let files = try Files.signatures(signatures, option: "signature")
        let recorded = payload.kind == .genesis ? nil : try recorded(payload, state: state, at: folder)
        let analysis = state.analyze(payload, bytes: bytes, files: files, at: try parseNow(now), recordedAs: recorded)
        let accepted = analysis.wouldBeAccepted || analysis.recordedAs != nil
        if json {
            printJSON(analysisReport(analysis))
        } else {
            for line in lines(analysis) { print(line) }
        }
        if !accepted { throw ExitCode(1) }
    }

    /// The service's analysis of the proposal in its queue. Reads only: a proposal the
    /// service does not hold is reported, not queued.
    private func checkAtService(_ server: String) throws {
        let (_, bytes) = try readPayload(proposal)
        let id = Hex.encode(try SHA256.hash(bytes))
        let answer = try HTTPClient.send("GET", HTTPClient.base(server) + "/v1/proposals/\(id)")
        guard answer.status == 200, let report = answer.json else {
            if answer.status == 404 { throw CLIError.refused("the service does not hold this proposal (queue id \(id)); send it with backstop approve --server") }
            throw HTTPClient.refusal(answer, "the service did not answer")
        }
        guard report["queueId"]?.stringValue == id else {
            throw CLIError(message: "the service answered about another proposal than this file's (SHA-256 \(id)): not trusted", exitCode: 4)
        }
        if json { printJSON(report) } else { for line in HTTPClient.analysisLines(report) { print(line) } }
        let accepted = report["wouldBeAccepted"]?.boolValue == true || report["alreadyRecorded"]?.integerValue != nil
        if !accepted { throw ExitCode(1) }
    }

    private func lines(_ analysis: ProposalAnalysis) -> [String] {
        let header = analysis.payload.header
        var lines = ["proposal \(header.id): \(header.kind.rawValue), expires \(header.expires)"]
        for problem in analysis.problems { lines.append("  PROBLEM (\(problem.code)): \(SafeText.sanitize(problem.message))") }
        if let intake = analysis.intake {
            for file in intake.files {
                lines.append("  \(SafeText.escape(file.name)): [\(file.verdict.code)] \(SafeText.sanitize(file.verdict.explanation))")
            }
            if let threshold = intake.policy.petitionThreshold {
                lines.append("petitioners: \(intake.signatures.count) distinct of the \(threshold) needed")
            }
            for group in intake.policy.groups {
                let signed = intake.signed(in: group)
                lines.append("signed by \(signed.count) of the \(group.threshold) needed (\(group.roleDescription.replacingOccurrences(of: "a delegate of ", with: "delegates of "))): \(signed.isEmpty ? "nobody" : signed.joined(separator: ", "))")
                let missing = intake.missing(in: group)
                if !missing.isEmpty { lines.append("not signed yet: \(missing.joined(separator: ", "))") }
            }
        }
        if let recorded = analysis.recordedAs {
            lines.append("already recorded as entry \(recorded): nothing to submit")
        } else if let refusal = analysis.refusal {
            lines.append("would be accepted now: no. \(SafeText.sanitize(refusal.reason)) [rule \(refusal.rule.rawValue)]")
        } else {
            lines.append("would be accepted now: yes")
        }
        return lines
    }
}

/// The `check --json` object: the proposal, each signature file's verdict, who signed, who
/// is missing, and whether the entry would be accepted now.
package func analysisReport(_ analysis: ProposalAnalysis) -> JSONValue {
    let accepted = analysis.wouldBeAccepted || analysis.recordedAs != nil
    let header = analysis.payload.header
    var object: [String: JSONValue] = [
        "ok": .bool(accepted), "wouldBeAccepted": .bool(analysis.wouldBeAccepted),
        "proposal": ["id": .string(header.id), "kind": .string(header.kind.rawValue), "fund": header.fund.map { .string($0) } ?? .null, "expires": .string(header.expires.description)],
        "problems": .array(analysis.problems.map { ["code": .string($0.code), "message": .string($0.message)] }),
        "alreadyRecorded": analysis.recordedAs.map { .integer($0) } ?? .null,
        "refusal": analysis.refusal.map { ["rule": .string($0.rule.rawValue), "message": .string($0.reason)] } ?? .null,
    ]
    if !accepted, let refusal = analysis.refusal {
        object["error"] = ["code": "refused", "rule": .string(refusal.rule.rawValue), "seq": .null, "message": .string(refusal.reason)]
    }
    if let intake = analysis.intake {
        object["files"] = .array(intake.files.map { file in
            var highS = false
            if case .counted(_, let high) = file.verdict { highS = high }
            return ["file": .string(file.name), "code": .string(file.verdict.code), "signer": file.verdict.signer.map { .string($0) } ?? .null,
                    "highS": .bool(highS), "message": .string(file.verdict.explanation)]
        })
        object["groups"] = .array(intake.policy.groups.map { group in
            ["role": .string(group.roleDescription), "threshold": .integer(Int64(group.threshold)),
             "stillNeeded": .integer(Int64(max(group.threshold - intake.signed(in: group).count, 0))),
             "signed": .array(intake.signed(in: group).map { .string($0) }), "missing": .array(intake.missing(in: group).map { .string($0) })]
        })
        if let threshold = intake.policy.petitionThreshold {
            object["petition"] = ["threshold": .integer(Int64(threshold)), "distinct": .integer(Int64(intake.signatures.count))]
        }
    }
    return .object(object)
}

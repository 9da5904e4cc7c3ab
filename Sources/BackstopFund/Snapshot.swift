import BackstopCrypto
import BackstopLedger
import Foundation

import Glibc

/// A derived snapshot of a fund's state, kept beside the ledger in `state/` so that opening
/// a large ledger to append does not replay it whole.
///
/// `state/snapshot.json` holds the state after the first `entries` entries (everything but
/// the used ids), the hash and time of the last of them, and where it ends in the file;
/// `state/ids` holds the used ids, sorted, 16 bytes each (``UsedIds``). A writer uses a snapshot only when the ledger's
/// line that ends at that offset hashes to that head, then verifies and replays the entries
/// after it; any mismatch, damage or unknown format means a full replay, and a new
/// snapshot. `Fund.verify`, and so `backstop verify`, never reads one.
enum Snapshot {
    static let folderName = "state"
    static let format = "backstop/snapshot/v2"
    /// A new snapshot is written when the ledger is this many entries past the last one.
    static let interval: Int64 = 256

    struct Loaded {
        let state: FundState
        let offset: UInt64
    }

    struct Damaged: Error {
        let reason: String
    }

    // MARK: Writing

    /// Writes the snapshot of `state`, whose last entry ends at byte `offset` of the
    /// ledger. Not fsynced: it is a cache, checked against the ledger when read.
    static func write(_ state: FundState, offset: UInt64, in directory: URL) throws {
        let folder = directory.appendingPathComponent(folderName)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let records = state.usedIds.sortedRecords
        let stateJSON = state.snapshotJSON
        var ids = [UInt8]()
        ids.reserveCapacity(records.count * 16)
        for record in records {
            append(record.high, to: &ids)
            append(record.low, to: &ids)
        }
        try replace(folder.appendingPathComponent("ids"), with: ids)
        let json: JSONValue = [
            "format": .string(format),
            "entries": .integer(state.entryCount),
            "head": .string(Hex.encode(state.head)),
            "offset": .integer(Int64(offset)),
            "ids": ["count": .integer(Int64(records.count)), "sha256": .string(Hex.encode(try SHA256.hash(ids)))],
            "state": stateJSON,
            "stateSha256": .string(Hex.encode(try SHA256.hash(Canonical.encode(stateJSON)))),
        ]
        try replace(folder.appendingPathComponent("snapshot.json"), with: Canonical.encode(json))
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    private static func replace(_ url: URL, with bytes: [UInt8]) throws {
        let temporary = url.path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw LedgerError(.io, "cannot write \(temporary)") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            written += count
        }
        close(fd)
        guard written == bytes.count, rename(temporary, url.path) == 0 else {
            unlink(temporary)
            throw LedgerError(.io, "cannot write \(url.path)")
        }
    }

    // MARK: Reading

    /// The bytes of `url`, read with one `read` per megabyte; nil when it does not exist.
    private static func readFile(_ url: URL) throws -> [UInt8]? {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { if errno == ENOENT { return nil }; throw Damaged(reason: "\(url.lastPathComponent) cannot be read") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Damaged(reason: "\(url.lastPathComponent) cannot be read") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, min($0.count - done, 1 << 20)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Damaged(reason: "\(url.lastPathComponent) ended early") }
            done += count
        }
        return bytes
    }

    /// The snapshot in `directory`, or nil when there is none; throws ``Damaged`` when there
    /// is one that cannot be used.
    static func read(in directory: URL) throws -> Loaded? {
        let folder = directory.appendingPathComponent(folderName)
        guard let text = try readFile(folder.appendingPathComponent("snapshot.json")) else { return nil }
        guard let (json, stateRange) = try? JSONParser.parseCanonical(text, member: "state"), case .object(let fields) = json,
              let stateRange, fields["format"]?.stringValue == format,
              let entries = fields["entries"]?.integerValue, entries > 0, let head = fields["head"]?.stringValue.flatMap(Hex.decode), head.count == 32,
              let offset = fields["offset"]?.integerValue, offset > 0,
              let count = fields["ids"]?["count"]?.integerValue, let digest = fields["ids"]?["sha256"]?.stringValue.flatMap(Hex.decode),
              let stateJSON = fields["state"], let stateDigest = fields["stateSha256"]?.stringValue.flatMap(Hex.decode)
        else { throw Damaged(reason: "snapshot.json is not a snapshot of this format") }
        // The state's canonical bytes are its bytes in the canonical file.
        guard try text.withUnsafeBytes({ try SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[stateRange])) }) == stateDigest else {
            throw Damaged(reason: "the state does not match its checksum")
        }
        guard let bytes = try readFile(folder.appendingPathComponent("ids")), bytes.count == Int(count) * 16 else {
            throw Damaged(reason: "the ids file is missing or of the wrong size")
        }
        guard try SHA256.hash(bytes) == digest else { throw Damaged(reason: "the ids file does not match the snapshot") }
        var records: [IdRecord] = []
        records.reserveCapacity(Int(count))
        func word(_ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        for index in 0..<Int(count) {
            let at = index * 16
            records.append(IdRecord(high: word(at), low: word(at + 8)))
            if index > 0 && !(records[index - 1].key < records[index].key) { throw Damaged(reason: "the ids are not sorted") }
        }
        let state = try FundState(snapshot: stateJSON, usedIds: UsedIds(sorted: records))
        guard state.entryCount == entries, state.head == head else { throw Damaged(reason: "the state does not match its head") }
        return Loaded(state: state, offset: UInt64(offset))
    }
}

// MARK: - The state as JSON

private func damaged(_ what: String) -> Snapshot.Damaged { Snapshot.Damaged(reason: "the snapshot's \(what) is damaged") }

private extension JSONValue {
    func string(_ key: String) throws -> String {
        guard let value = self[key]?.stringValue else { throw damaged(key) }
        return value
    }
    func integer(_ key: String) throws -> Int64 {
        guard let value = self[key]?.integerValue else { throw damaged(key) }
        return value
    }
    func amount(_ key: String) throws -> Amount {
        guard let value = self[key]?.stringValue.flatMap(Amount.init(minorUnits:)) else { throw damaged(key) }
        return value
    }
    func time(_ key: String) throws -> Timestamp {
        guard let value = self[key]?.stringValue.flatMap(Timestamp.init) else { throw damaged(key) }
        return value
    }
    func optionalTime(_ key: String) throws -> Timestamp? {
        guard let value = self[key], value != .null else { return nil }
        guard let time = value.stringValue.flatMap(Timestamp.init) else { throw damaged(key) }
        return time
    }
    func bytes(_ key: String) throws -> [UInt8] {
        guard let value = self[key]?.stringValue.flatMap(Hex.decode) else { throw damaged(key) }
        return value
    }
    func key(_ key: String) throws -> PublicKey {
        try PublicKey(derRepresentation: try bytes(key))
    }
    func object(_ key: String) throws -> [String: JSONValue] {
        guard let value = self[key]?.objectValue else { throw damaged(key) }
        return value
    }
    func array(_ key: String) throws -> [JSONValue] {
        guard let value = self[key]?.arrayValue else { throw damaged(key) }
        return value
    }
    func amounts(_ key: String) throws -> [String: Amount] {
        try object(key).mapValues { value in
            guard let amount = value.stringValue.flatMap(Amount.init(minorUnits:)) else { throw damaged(key) }
            return amount
        }
    }
}

private func amounts(_ map: [String: Amount]) -> JSONValue { .object(map.mapValues { .string($0.description) }) }
private func optional(_ time: Timestamp?) -> JSONValue { time.map { .string($0.description) } ?? .null }

extension FundState {
    /// Everything but the used ids, as JSON.
    var snapshotJSON: JSONValue {
        [
            "fundId": .string(Hex.encode(fundId)), "name": .string(name),
            "assets": .object(assets.mapValues { .integer(Int64($0)) }),
            "delegates": .array(delegates.map { ["key": .string(Hex.encode($0.key.derRepresentation)), "platform": .string($0.platform)] }),
            "formerDelegates": .array(formerDelegates.map { ["key": .string(Hex.encode($0.key.derRepresentation)), "name": .string($0.name)] }),
            "delegateSet": .integer(delegateSet), "threshold": .integer(Int64(threshold)), "petitionThreshold": .integer(Int64(petitionThreshold)),
            "policy": policy.json, "releaseDelaySeconds": .integer(releaseDelaySeconds), "genesisTime": .string(genesisTime.description),
            "members": .object(members.mapValues { member in
                ["id": .string(member.id), "platform": .string(member.platform), "key": .string(Hex.encode(member.key.derRepresentation)),
                 "size": .string(member.size.description), "status": .string(member.status.rawValue), "admittedAt": .string(member.admittedAt.description),
                 "jurisdiction": member.jurisdiction.map(JSONValue.string) ?? .null]
            }),
            "duesPaid": .object(duesPaid.mapValues { periods in .object(Dictionary(uniqueKeysWithValues: periods.map { (String($0.key), .string($0.value.description)) })) }),
            "balances": .object(balances.mapValues { ["contributed": .string($0.contributed.description), "reserved": .string($0.reserved.description), "paid": .string($0.paid.description)] }),
            "claims": .object(claims.mapValues { claim in
                ["id": .string(claim.id), "member": claim.member.map(JSONValue.string) ?? .null, "petitioners": .integer(Int64(claim.petitioners)),
                 "platform": .string(claim.platform), "description": .string(claim.description), "incidentTime": .string(claim.incidentTime.description),
                 "accounts": .integer(claim.accounts), "losses": amounts(claim.losses), "evidence": .array(claim.evidence.map(JSONValue.string)),
                 "status": .string(claim.status.rawValue), "committed": amounts(claim.committed), "paid": amounts(claim.paid), "seq": .integer(claim.seq)]
            }),
            "releases": .object(releases.mapValues { release in
                ["id": .string(release.id), "approvedSeq": .integer(release.approvedSeq), "claim": .string(release.claim),
                 "payouts": .array(release.payouts.map { ["asset": .string($0.asset), "amount": .string($0.amount.description), "payee": .string($0.payee), "destination": .string($0.destination)] }),
                 "totals": amounts(release.totals), "status": .string(release.status.rawValue), "approvedAt": .string(release.approvedAt.description),
                 "payableAt": .string(release.payableAt.description), "reference": release.reference.map(JSONValue.string) ?? .null,
                 "witnessedAt": optional(release.witnessedAt), "restitution": release.restitution?.json ?? .null]
            }),
            "entryCount": .integer(entryCount), "head": .string(Hex.encode(head)), "lastTime": .string(lastTime.description),
            "witnesses": witnesses?.json ?? .null,
            "frontier": ["size": .integer(frontier.size), "roots": .array(frontier.subtreeRoots.map { .string(Hex.encode($0)) })],
            "checkpointSize": .integer(checkpointSize), "witnessedTime": optional(witnessedTime),
            "witnessTimes": .object(witnessTimes.mapValues { .integer($0) }),
            "uncheckpointedTimes": .array(uncheckpointedTimes.runs.map { [.string($0.time.description), .integer($0.count)] }),
            "version": .integer(version), "safeguards": safeguards.json,
            "declarations": .array(declarations.values.sorted { $0.seq < $1.seq }.map { d in
                ["member": .string(d.member), "id": .string(d.id), "asset": .string(d.asset), "amount": .string(d.amount.description),
                 "period": .integer(d.period), "reference": .string(d.reference), "declaredAt": .string(d.declaredAt.description),
                 "deadline": optional(d.deadline), "seq": .integer(d.seq)]
            }),
            "memberMoney": .object(memberMoney.mapValues { assets in .object(assets.mapValues { m in
                ["declared": .string(m.declared.description), "confirmed": .string(m.confirmed.description), "closed": .string(m.closed.description)]
            }) }),
            "reserves": reserves.map { r in
                ["asOf": .string(r.asOf.description), "seq": .integer(r.seq), "holdings": amounts(r.holdings),
                 "wallets": .object(r.wallets.mapValues { .array($0.map(JSONValue.string)) })]
            } ?? .null,
            "paidSinceAttestation": amounts(paidSinceAttestation),
            "lastSettledAt": optional(lastSettledAt), "assessmentsSince": optional(assessmentsSince),
            "assessors": .object(assessors.mapValues { a in
                ["id": .string(a.id), "firm": .string(a.firm), "key": .string(Hex.encode(a.key.derRepresentation)), "active": .bool(a.active)]
            }),
            "assessments": .object(assessments.mapValues { list in .array(list.map { a in
                ["assessor": .string(a.assessor), "date": .string(a.date.description), "kind": .string(a.kind.rawValue), "report": .string(a.report), "seq": .integer(a.seq)]
            }) }),
            "registries": .object(registries.mapValues { r in
                ["platforms": .array(r.platforms.map(JSONValue.string)), "asOf": .string(r.asOf.description), "seq": .integer(r.seq)]
            }),
        ]
    }

    /// The state that ``snapshotJSON`` wrote, with `usedIds`.
    init(snapshot s: JSONValue, usedIds: UsedIds) throws {
        fundId = try s.bytes("fundId")
        name = try s.string("name")
        assets = try s.object("assets").mapValues { value in
            guard let decimals = value.integerValue else { throw damaged("assets") }
            return Int(decimals)
        }
        delegates = try s.array("delegates").map { Delegate(key: try $0.key("key"), platform: try $0.string("platform")) }
        delegateKeys = Self.named(delegates)
        formerDelegates = try s.array("formerDelegates").map { NamedKey(name: try $0.string("name"), key: try $0.key("key")) }
        delegateSet = try s.integer("delegateSet")
        threshold = Int(try s.integer("threshold"))
        petitionThreshold = Int(try s.integer("petitionThreshold"))
        let p = s["policy"] ?? .null
        policy = ContributionPolicy(asset: try p.string("asset"), ratePerMillion: try p.integer("ratePerMillion"), floor: try p.amount("floor"),
                                    cap: try p.amount("cap"), periodSeconds: try p.integer("periodSeconds"), graceSeconds: try p.integer("graceSeconds"))
        releaseDelaySeconds = try s.integer("releaseDelaySeconds")
        genesisTime = try s.time("genesisTime")
        members = try s.object("members").mapValues { m in
            guard let status = Member.Status(rawValue: try m.string("status")) else { throw damaged("member status") }
            return Member(id: try m.string("id"), platform: try m.string("platform"), key: try m.key("key"), size: try m.amount("size"),
                          status: status, admittedAt: try m.time("admittedAt"), jurisdiction: m["jurisdiction"]?.stringValue)
        }
        duesPaid = try s.object("duesPaid").mapValues { periods in
            guard case .object(let map) = periods else { throw damaged("duesPaid") }
            return try Dictionary(uniqueKeysWithValues: map.map { key, value in
                guard let period = Int64(key), let amount = value.stringValue.flatMap(Amount.init(minorUnits:)) else { throw damaged("duesPaid") }
                return (period, amount)
            })
        }
        balances = try s.object("balances").mapValues { b in
            var balance = Balance()
            balance.contributed = try b.amount("contributed")
            balance.reserved = try b.amount("reserved")
            balance.paid = try b.amount("paid")
            return balance
        }
        claims = try s.object("claims").mapValues { c in
            guard let status = Claim.Status(rawValue: try c.string("status")) else { throw damaged("claim status") }
            return Claim(id: try c.string("id"), member: c["member"]?.stringValue, petitioners: Int(try c.integer("petitioners")),
                         platform: try c.string("platform"), description: try c.string("description"), incidentTime: try c.time("incidentTime"),
                         accounts: try c.integer("accounts"), losses: try c.amounts("losses"),
                         evidence: try c.array("evidence").map { guard let text = $0.stringValue else { throw damaged("evidence") }; return text },
                         status: status, committed: try c.amounts("committed"), paid: try c.amounts("paid"), seq: try c.integer("seq"))
        }
        releases = try s.object("releases").mapValues { r in
            guard let status = Release.Status(rawValue: try r.string("status")) else { throw damaged("release status") }
            return Release(id: try r.string("id"), approvedSeq: try r.integer("approvedSeq"), claim: try r.string("claim"),
                           payouts: try r.array("payouts").map { Payout(asset: try $0.string("asset"), amount: try $0.amount("amount"),
                                                                        payee: try $0.string("payee"), destination: try $0.string("destination")) },
                           totals: try r.amounts("totals"), status: status, approvedAt: try r.time("approvedAt"), payableAt: try r.time("payableAt"),
                           reference: r["reference"]?.stringValue, witnessedAt: try r.optionalTime("witnessedAt"),
                           restitution: try r["restitution"].flatMap { $0 == .null ? nil : try RestitutionSummary.read($0) })
        }
        self.usedIds = usedIds
        entryCount = try s.integer("entryCount")
        head = try s.bytes("head")
        lastTime = try s.time("lastTime")
        if let w = s["witnesses"], w != .null {
            do { witnesses = try WitnessPolicy.read(w, context: "snapshot") } catch { throw damaged("witnesses") }
        } else {
            witnesses = nil
        }
        let f = s["frontier"] ?? .null
        guard let frontier = MerkleFrontier(size: try f.integer("size"), subtreeRoots: try f.array("roots").map { value in
            guard let hash = value.stringValue.flatMap(Hex.decode) else { throw damaged("frontier") }
            return hash
        }) else { throw damaged("frontier") }
        self.frontier = frontier
        checkpointSize = try s.integer("checkpointSize")
        witnessedTime = try s.optionalTime("witnessedTime")
        witnessTimes = try s.object("witnessTimes").mapValues { value in
            guard let time = value.integerValue else { throw damaged("witnessTimes") }
            return time
        }
        uncheckpointedTimes = TimeRuns(runs: try s.array("uncheckpointedTimes").map { value in
            guard let pair = value.arrayValue, pair.count == 2, let time = pair[0].stringValue.flatMap(Timestamp.init),
                  let count = pair[1].integerValue, count > 0 else { throw damaged("uncheckpointedTimes") }
            return TimeRuns.Run(time: time, count: count)
        })
        guard frontier.size == entryCount else { throw damaged("frontier size") }
        version = try s.integer("version")
        safeguards = try Safeguards.read(s["safeguards"] ?? .null, context: "snapshot")
        declarations = Dictionary(uniqueKeysWithValues: try s.array("declarations").map { d in
            let declaration = Declaration(member: try d.string("member"), id: try d.string("id"), asset: try d.string("asset"), amount: try d.amount("amount"),
                                          period: try d.integer("period"), reference: try d.string("reference"), declaredAt: try d.time("declaredAt"),
                                          deadline: try d.optionalTime("deadline"), seq: try d.integer("seq"))
            return (FundState.declarationKey(member: declaration.member, id: declaration.id), declaration)
        })
        memberMoney = try s.object("memberMoney").mapValues { assets in
            guard case .object(let map) = assets else { throw damaged("memberMoney") }
            return try map.mapValues { m in
                var money = MemberMoney()
                money.declared = try m.amount("declared")
                money.confirmed = try m.amount("confirmed")
                money.closed = try m.amount("closed")
                return money
            }
        }
        if let r = s["reserves"], r != .null {
            reserves = ReserveAttestation(asOf: try r.time("asOf"), seq: try r.integer("seq"), holdings: try r.amounts("holdings"),
                                          wallets: try r.object("wallets").mapValues { list in
                                              guard let items = list.arrayValue?.compactMap(\.stringValue) else { throw damaged("wallets") }
                                              return items
                                          })
        }
        paidSinceAttestation = try s.amounts("paidSinceAttestation")
        lastSettledAt = try s.optionalTime("lastSettledAt")
        assessmentsSince = try s.optionalTime("assessmentsSince")
        assessors = try s.object("assessors").mapValues { a in
            guard let active = a["active"]?.boolValue else { throw damaged("assessor") }
            return Assessor(id: try a.string("id"), firm: try a.string("firm"), key: try a.key("key"), active: active)
        }
        assessments = try s.object("assessments").mapValues { list in
            guard let items = list.arrayValue else { throw damaged("assessments") }
            return try items.map { a in
                guard let kind = Assessment.Kind(rawValue: try a.string("kind")) else { throw damaged("assessment kind") }
                return Assessment(assessor: try a.string("assessor"), date: try a.time("date"), kind: kind, report: try a.string("report"), seq: try a.integer("seq"))
            }
        }
        registries = try s.object("registries").mapValues { r in
            JurisdictionRegistry(platforms: try r.array("platforms").map { guard let name = $0.stringValue else { throw damaged("registry") }; return name },
                                 asOf: try r.time("asOf"), seq: try r.integer("seq"))
        }
    }
}

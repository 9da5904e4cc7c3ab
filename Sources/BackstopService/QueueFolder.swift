import BackstopCLI
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// The signing queue on disk, in the command line's own file layout, so that nothing
/// acknowledged is lost when the service stops and an operator can read it with the CLI:
/// `QUEUE/ID/payload.json` (ID is the SHA-256 of the payload's bytes), and beside it
/// `NNNNN.sig` for each signature that counted, with `NNNNN.pub.pem` when the signer's key
/// came with it (petitioners). `backstop check --proposal QUEUE/ID/payload.json QUEUE/ID`
/// analyses one. Every file is written to a temporary name, fsynced, renamed and its folder
/// fsynced before the service answers.
enum QueueFolder {
    static func prepare(_ queue: URL) throws {
        do {
            try FileManager.default.createDirectory(at: queue, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw ServiceError(.internalServerError, "io", "cannot make the queue folder \(queue.path): \(error.localizedDescription)")
        }
    }

    /// Every queued proposal: its id, payload bytes, signatures and folder.
    static func load(_ queue: URL) throws -> [(String, [UInt8], [SignatureFile], URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: queue.path)) ?? []
        var result: [(String, [UInt8], [SignatureFile], URL)] = []
        for name in names.sorted() where name.count == 64 && name.allSatisfy(\.isHexDigit) {
            let folder = queue.appendingPathComponent(name)
            guard let payload = FileManager.default.contents(atPath: folder.appendingPathComponent("payload.json").path) else { continue }
            let hasSignatures = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).contains { $0.hasSuffix(".sig") }
            // Named as when they were posted (NNNNN.sig), not by their path on this machine.
            let files = (hasSignatures ? try Files.signatures([folder.path], option: "queue") : []).map {
                SignatureFile(name: URL(fileURLWithPath: $0.name).lastPathComponent, der: $0.der, publicKey: $0.publicKey, keyProblem: $0.keyProblem)
            }
            result.append((name, Array(payload), files, folder))
        }
        return result
    }

    /// Makes the proposal's folder holding its payload.
    static func add(id: String, payload: [UInt8], in queue: URL) throws -> URL {
        let folder = queue.appendingPathComponent(id)
        let staging = queue.appendingPathComponent(id + ".new")
        try? FileManager.default.removeItem(at: staging)
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw ServiceError(.internalServerError, "io", "cannot write to the queue folder: \(error.localizedDescription)")
        }
        try writeDurably(payload, to: staging.appendingPathComponent("payload.json"))
        try syncFolder(staging)
        // A folder left under this id is not in the queue (its payload could not be read): replaced.
        try? FileManager.default.removeItem(at: folder)
        guard rename(staging.path, folder.path) == 0 else { throw ServiceError(.internalServerError, "io", "cannot rename in the queue folder: \(String(cString: strerror(errno)))") }
        try syncFolder(queue)
        return folder
    }

    /// Adds a signature (and the signer's key, when given) to a proposal's folder.
    static func addSignature(_ der: [UInt8], publicKey: PublicKey?, name: String, in folder: URL) throws {
        if let publicKey {
            try writeDurably(Array(publicKey.pemRepresentation.utf8), to: folder.appendingPathComponent(name + ".pub.pem"))
        }
        try writeDurably(der, to: folder.appendingPathComponent(name + ".sig"))
        try syncFolder(folder)
    }

    /// Writes `bytes` to a temporary file, fsyncs it and renames it to `url`.
    private static func writeDurably(_ bytes: [UInt8], to url: URL) throws {
        let temporary = url.path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ServiceError(.internalServerError, "io", "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { throw ServiceError(.internalServerError, "io", "cannot write \(temporary): \(String(cString: strerror(errno)))") }
            written += result
        }
        guard fsync(fd) == 0 else { throw ServiceError(.internalServerError, "io", "fsync of \(temporary) failed: \(String(cString: strerror(errno)))") }
        guard rename(temporary, url.path) == 0 else { throw ServiceError(.internalServerError, "io", "cannot rename \(temporary): \(String(cString: strerror(errno)))") }
    }

    private static func syncFolder(_ url: URL) throws {
        guard SystemIO.shared.syncDirectory(url.path) else {
            throw ServiceError(.internalServerError, "io", "fsync of the folder \(url.path) failed: \(String(cString: strerror(errno)))")
        }
    }
}

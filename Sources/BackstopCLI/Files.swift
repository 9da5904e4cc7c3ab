import BackstopCrypto
import BackstopFund
import Foundation
import Glibc

/// Reading and writing the files the commands take, with errors that name the file.
package enum Files {
    /// The bytes of `path`, at most `limit` of them, or an exit-2 error naming the file.
    static func read(_ path: String, what: String, limit: Int = 64 << 20) throws -> [UInt8] {
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) > limit {
            throw CLIError.badInput("\(what) \(path) is \(info.st_size) bytes, more than the \(limit) a \(what) may have")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw CLIError.badInput("\(what) \(path) \(reason)")
        }
        guard data.count <= limit else { throw CLIError.badInput("\(what) \(path) is more than the \(limit) bytes a \(what) may have") }
        return [UInt8](data)
    }

    /// The text of `path` as UTF-8.
    static func readText(_ path: String, what: String, limit: Int = 64 << 20) throws -> String {
        let bytes = try read(path, what: what, limit: limit)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError.badInput("\(what) \(path) is not UTF-8 text") }
        return text
    }

    /// Writes a new file with `mode`, refusing to replace an existing one, and fsyncs it.
    static func writeNew(_ path: String, _ bytes: [UInt8], mode: mode_t, what: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            if errno == EEXIST { throw CLIError.badInput("\(what) \(path) already exists; refusing to overwrite it") }
            throw CLIError.badInput("cannot create \(what) \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        // The mode given to open is filtered by the umask; a private key must be 0600 whatever it is.
        _ = fchmod(fd, mode)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            unlink(path)
            throw CLIError.badInput("cannot write \(what) \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A private key file, asking for its passphrase (from `passphraseFile` or the terminal)
    /// only when it is encrypted.
    static func privateKey(_ path: String, passphraseFile: String?) throws -> PrivateKey {
        let pem = try readText(path, what: "key file")
        do {
            return try PrivateKey(pemRepresentation: pem)
        } catch let error as CryptoError where error.code == .passphraseRequired {
            let passphrase = try passphraseFile.map { try Passphrase.fromFile($0) } ?? Passphrase.ask("Passphrase for \(path): ")
            do {
                return try PrivateKey(pemRepresentation: pem, passphrase: passphrase)
            } catch let error as CryptoError {
                throw CLIError.badInput("key file \(path): \(error)")
            }
        } catch let error as CryptoError {
            throw CLIError.badInput("key file \(path): \(error)")
        }
    }

    /// A private key file of either kind (ECDSA or Ed25519).
    static func anyPrivateKey(_ path: String, passphraseFile: String?) throws -> AnyPrivateKey {
        let pem = try readText(path, what: "key file")
        do {
            return try AnyPrivateKey(pemRepresentation: pem)
        } catch let error as CryptoError where error.code == .passphraseRequired {
            let passphrase = try passphraseFile.map { try Passphrase.fromFile($0) } ?? Passphrase.ask("Passphrase for \(path): ")
            do { return try AnyPrivateKey(pemRepresentation: pem, passphrase: passphrase) } catch let error as CryptoError {
                throw CLIError.badInput("key file \(SafeText.escape(path)): \(error)")
            }
        } catch let error as CryptoError {
            throw CLIError.badInput("key file \(SafeText.escape(path)): \(error)")
        }
    }

    /// A public key file in PEM (`PUBLIC KEY`) or DER.
    static func publicKey(_ path: String) throws -> PublicKey {
        let bytes = try read(path, what: "public key file")
        do {
            if let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN") {
                return try PublicKey(pemRepresentation: text)
            }
            return try PublicKey(derRepresentation: bytes)
        } catch let error as CryptoError {
            throw CLIError.badInput("public key file \(path): \(error)")
        }
    }
}

extension Files {
    /// Signature files named on the command line: each path is a `.sig` file or a folder
    /// of them. A `NAME.pub.pem` beside `NAME.sig` is read as the signer's key.
    package static func signatures(_ paths: [String], option: String) throws -> [SignatureFile] {
        var files: [SignatureFile] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CLIError.badInput("\(option) \(SafeText.escape(path)) does not exist")
            }
            if isDirectory.boolValue {
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                    throw CLIError.badInput("\(option) folder \(SafeText.escape(path)) cannot be read")
                }
                let signatures = names.filter { $0.hasSuffix(".sig") }.sorted()
                guard !signatures.isEmpty else { throw CLIError.badInput("\(option) folder \(SafeText.escape(path)) holds no .sig files") }
                for name in signatures { files.append(try signature(URL(fileURLWithPath: path).appendingPathComponent(name).path)) }
            } else {
                files.append(try signature(path))
            }
        }
        return files
    }

    private static func signature(_ path: String) throws -> SignatureFile {
        let der = try read(path, what: "signature file")
        let keyPath = (path.hasSuffix(".sig") ? String(path.dropLast(4)) : path) + ".pub.pem"
        guard FileManager.default.fileExists(atPath: keyPath) else { return SignatureFile(name: path, der: der) }
        do {
            return SignatureFile(name: path, der: der, publicKey: try publicKey(keyPath))
        } catch let error as CLIError {
            return SignatureFile(name: path, der: der, keyProblem: SafeText.sanitize(error.message))
        }
    }
}

/// Passphrases for encrypted keys: from a file, or typed on the terminal without echo.
enum Passphrase {
    /// The first line of `path`.
    static func fromFile(_ path: String) throws -> [UInt8] {
        let bytes = try Files.read(path, what: "passphrase file")
        let line = Array(bytes.prefix { $0 != 0x0A && $0 != 0x0D })
        guard !line.isEmpty else { throw CLIError.badInput("passphrase file \(path) is empty") }
        guard line.count <= PrivateKey.maximumPassphraseBytes else {
            throw CLIError.badInput("passphrase file \(path): the passphrase is \(line.count) bytes; at most \(PrivateKey.maximumPassphraseBytes) (what openssl accepts)")
        }
        return line
    }

    /// Asks a question on the controlling terminal and returns the answer line (echoed).
    static func askVisible(_ prompt: String) throws -> String {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else { throw CLIError.badInput("no terminal to ask on; give --yes") }
        defer { close(tty) }
        _ = prompt.withCString { write(tty, $0, strlen($0)) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(tty, &byte, 1) == 1, byte != 0x0A, byte != 0x0D, line.count < 64 { line.append(byte) }
        return String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    /// Asks on the controlling terminal with echo off.
    static func ask(_ prompt: String) throws -> [UInt8] {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else {
            throw CLIError.badInput("no terminal to ask for a passphrase on; give it with --passphrase-file")
        }
        defer { close(tty) }
        _ = prompt.withCString { write(tty, $0, strlen($0)) }
        var saved = termios()
        let hasTermios = tcgetattr(tty, &saved) == 0
        if hasTermios {
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(tty, TCSAFLUSH, &silent)
        }
        defer {
            if hasTermios { _ = tcsetattr(tty, TCSAFLUSH, &saved) }
            _ = write(tty, "\n", 1)
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(tty, &byte, 1) == 1, byte != 0x0A, byte != 0x0D, line.count <= PrivateKey.maximumPassphraseBytes { line.append(byte) }
        guard !line.isEmpty else { throw CLIError.badInput("empty passphrase") }
        guard line.count <= PrivateKey.maximumPassphraseBytes else {
            throw CLIError.badInput("the passphrase is longer than \(PrivateKey.maximumPassphraseBytes) bytes, the most openssl accepts")
        }
        return line
    }
}

/// A warning on standard error, one line, prefixed like errors.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("backstop: warning: \(SafeText.sanitize(message))\n".utf8))
}

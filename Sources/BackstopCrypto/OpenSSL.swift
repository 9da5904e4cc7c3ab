import CBackstopShims
import COpenSSL

/// The OpenSSL error queue is per thread; after any failed call it is read and emptied so
/// that a later, unrelated failure is not blamed on an old entry.
enum OpenSSLErrorQueue {
    static func drain() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "no detail from OpenSSL" : messages.joined(separator: "; ")
    }

    static func clear() { ERR_clear_error() }
}

/// A read-only memory BIO over Swift bytes, freed when the closure returns.
func withReadBIO<T>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> T) throws -> T {
    try bytes.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
            throw CryptoError.openssl("BIO_new_mem_buf")
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }
}

/// A growable memory BIO: `body` writes into it and its contents are returned.
func collectingBIO(_ body: (OpaquePointer) throws -> Void) throws -> [UInt8] {
    guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.openssl("BIO_new") }
    defer { BIO_free(bio) }
    try body(bio)
    var data: UnsafePointer<CChar>? = nil
    let length = backstop_bio_mem_data(UnsafeMutableRawPointer(bio), &data)
    guard length >= 0, let data else { return [] }
    return data.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
}

/// A DER encoding produced by an `i2d_*` function, copied out and the OpenSSL buffer freed.
func derBytes(_ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>) -> Int32, call: String) throws -> [UInt8] {
    var output: UnsafeMutablePointer<UInt8>? = nil
    let length = encode(&output)
    guard length > 0, let output else { throw CryptoError.openssl(call) }
    defer { backstop_openssl_free(output) }
    return Array(UnsafeBufferPointer(start: output, count: Int(length)))
}

import BackstopCLI
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The request context: Hummingbird's, plus the client's address for rate limits and logs.
struct ServiceContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?
    /// The largest request body read: payloads and signatures are small.
    let maxUploadSize: Int

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        maxUploadSize = ServiceContext.bodyLimit
    }

    nonisolated(unsafe) static var bodyLimit = 1 << 20
}

/// Every route of the service. `Docs/openapi.json` describes the same set; a test keeps
/// the two equal.
enum Routes {
    static func router(_ service: FundService, limiter: RateLimiter?, logger: Logger) -> Router<ServiceContext> {
        let router = Router(context: ServiceContext.self)
        router.add(middleware: RequestLog(logger: logger))
        router.add(middleware: Headers())
        if let limiter { router.add(middleware: limiter) }

        router.get("/") { _, _ in html(await service.dashboard()) }
        router.get("/petitions/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let page = try await service.petitionPage(id) else { throw ServiceError(.notFound, "notFound", "no petition \(safeId(id)) in the queue") }
            return html(page)
        }
        router.get("/static/petition.js") { _, _ in script(PetitionScript.source) }
        router.get("/static/dashboard.js") { _, _ in script(PetitionScript.dashboard) }

        router.get("/v1/status") { _, _ in json(await service.status()) }
        router.get("/v1/queue") { _, _ in json(await service.queue()) }
        router.get("/v1/entries") { request, _ in
            let from = try int64(request.uri.queryParameters.get("from") ?? "0", name: "from")
            guard from >= 0 else { throw ServiceError(.badRequest, "badInput", "from \(from): a sequence number, 0 or more") }
            let limit = try int64(request.uri.queryParameters.get("limit") ?? "\(Int64.max)", name: "limit")
            guard limit >= 1 else { throw ServiceError(.badRequest, "badInput", "limit \(limit): 1 or more") }
            let count = await service.entryCount
            let end = from > count ? from : min(count, from.addingReportingOverflow(limit).overflow ? count : from + limit)
            return Response(status: .ok, headers: [.contentType: "application/jsonl"], body: ResponseBody { writer in
                var seq = from
                while seq < end {
                    let lines = try await service.lines(from: seq, count: Int(min(256, end - seq)))
                    guard !lines.isEmpty else { break }
                    var buffer = ByteBuffer()
                    for line in lines { buffer.writeBytes(line); buffer.writeInteger(UInt8(ascii: "\n")) }
                    try await writer.write(buffer)
                    seq += Int64(lines.count)
                }
                try await writer.finish(nil)
            })
        }
        router.get("/v1/checkpoint") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: await service.checkpointNote())))
        }
        router.post("/v1/checkpoint/cosignatures") { request, context in
            let (created, report) = try await service.cosign(try await bytes(request, context))
            return json(report, status: created ? .created : .ok)
        }
        router.get("/v1/proofs/inclusion") { request, _ in
            let parameters = request.uri.queryParameters
            let seq = try int64(parameters.get("seq") ?? "", name: "seq")
            let count = await service.entryCount
            let size = try parameters.get("size").map { try int64($0, name: "size") } ?? count
            return json(try await service.inclusionProof(seq: seq, size: size))
        }
        router.get("/v1/proofs/consistency") { request, _ in
            let parameters = request.uri.queryParameters
            let old = try int64(parameters.get("from") ?? "", name: "from")
            let count = await service.entryCount
            let new = try parameters.get("to").map { try int64($0, name: "to") } ?? count
            return json(try await service.consistencyProof(old: old, new: new))
        }
        router.post("/v1/proposals") { request, context in
            let body = try await bytes(request, context)
            let (id, created, report) = try await service.propose(body, client: context.remoteAddress?.ipAddress ?? "-")
            var response = json(report, status: created ? .created : .ok)
            response.headers[.location] = "/v1/proposals/\(id)"
            return response
        }
        router.get("/v1/proposals/:id") { _, context in json(try await service.proposal(try context.parameters.require("id"))) }
        router.get("/v1/proposals/:id/payload") { _, context in
            let payload = try await service.payload(try context.parameters.require("id"))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: payload)))
        }
        router.post("/v1/proposals/:id/signatures") { request, context in
            let id = try context.parameters.require("id")
            let body = try await bytes(request, context)
            let (der, key) = try signature(body, contentType: request.headers[.contentType])
            let (created, report) = try await service.sign(id, der: der, publicKey: key)
            return json(report, status: created ? .created : .ok)
        }
        router.post("/v1/proposals/:id/submit") { _, context in
            json(try await service.submit(try context.parameters.require("id")), status: .created)
        }
        return router
    }

    /// A signature as posted: a DER signature's bytes (`application/octet-stream`), or
    /// `{"signature": HEX, "publicKey": HEX}` (`application/json`), the key as DER
    /// SubjectPublicKeyInfo, which petitioners send because the fund does not know them.
    static func signature(_ body: [UInt8], contentType: String?) throws -> ([UInt8], PublicKey?) {
        guard contentType?.lowercased().hasPrefix("application/json") == true else {
            guard !body.isEmpty else { throw ServiceError(.badRequest, "badInput", "the body is empty: send the DER signature's bytes") }
            return (body, nil)
        }
        let object: [String: JSONValue]
        do {
            guard let parsed = try JSONParser.parse(body).objectValue else { throw ServiceError(.badRequest, "badInput", "the body must be a JSON object") }
            object = parsed
        } catch let error as JSONParseError {
            throw ServiceError(.badRequest, "badInput", "the body is not JSON: \(error)")
        }
        if let extra = object.keys.first(where: { !["signature", "publicKey"].contains($0) }) {
            throw ServiceError(.badRequest, "badInput", "unknown field \(SafeText.quoted(extra)): only signature and publicKey")
        }
        guard let text = object["signature"]?.stringValue, let der = Hex.decode(text), !der.isEmpty else {
            throw ServiceError(.badRequest, "badInput", "signature: the DER signature in hexadecimal is required")
        }
        guard let keyValue = object["publicKey"], keyValue != .null else { return (der, nil) }
        guard let keyText = keyValue.stringValue, let keyDER = Hex.decode(keyText) else {
            throw ServiceError(.badRequest, "badInput", "publicKey: expected DER SubjectPublicKeyInfo in hexadecimal")
        }
        do {
            return (der, try PublicKey(derRepresentation: keyDER))
        } catch {
            throw ServiceError(.badRequest, "badInput", "publicKey: \(error)")
        }
    }

    static func bytes(_ request: Request, _ context: ServiceContext) async throws -> [UInt8] {
        do {
            return Array(buffer: try await request.body.collect(upTo: context.maxUploadSize))
        } catch let error as NIOTooManyBytesError {
            _ = error
            throw ServiceError(.contentTooLarge, "tooLarge", "the body is larger than \(context.maxUploadSize) bytes")
        }
    }

    static func int64(_ text: String, name: String) throws -> Int64 {
        guard let value = Int64(text) else { throw ServiceError(.badRequest, "badInput", "\(name) \(SafeText.quoted(String(text.prefix(40)))): expected an integer") }
        return value
    }

    static func safeId(_ id: String) -> String { id.count == 64 && id.allSatisfy(\.isHexDigit) ? id : "with that id" }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var bytes = Canonical.encode(value)
        bytes.append(UInt8(ascii: "\n"))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func script(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Security headers on every answer, and errors as JSON.
struct Headers: RouterMiddleware {
    typealias Context = ServiceContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let failure = ServiceError(error)
            if failure.status == .internalServerError { context.logger.error("request failed", metadata: ["error": "\(failure.message)"]) }
            response = Routes.json(failure.json, status: failure.status)
        }
        response.headers[.cacheControl] = "no-store"
        response.headers[.init("X-Content-Type-Options")!] = "nosniff"
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        response.headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
        return response
    }
}

/// One structured log line per request: method, path, status, client, milliseconds.
struct RequestLog: RouterMiddleware {
    typealias Context = ServiceContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let milliseconds = elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        logger.info("request", metadata: [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
            "client": "\(context.remoteAddress?.ipAddress ?? "-")", "ms": "\(milliseconds)",
        ])
        return response
    }
}

/// Per-client token buckets: each address may make `rate` requests a second on average,
/// `burst` at once; past that the answer is 429 with Retry-After. Tokens are counted in
/// billionths, so that refilling by the nanosecond stays in integers.
final class RateLimiter: RouterMiddleware, @unchecked Sendable {
    typealias Context = ServiceContext
    private static let unit: Int64 = 1_000_000_000
    private let rate: Int64, burst: Int64
    private var buckets: [String: (tokens: Int64, time: ContinuousClock.Instant)] = [:]
    private let lock = NSLock()

    init(rate: Int, burst: Int) {
        self.rate = Int64(rate)
        self.burst = Int64(burst) * Self.unit
    }

    /// Takes a token for `client`; false when its bucket is empty.
    func take(_ client: String, at now: ContinuousClock.Instant = .now) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if buckets.count > 100_000 { buckets.removeAll() }  // Bounded memory under a flood of addresses.
        var bucket = buckets[client] ?? (burst, now)
        let elapsed = now - bucket.time
        // Nanoseconds elapsed, capped at a minute: a full bucket is reached well before.
        let nanoseconds = min(elapsed.components.seconds, 60) * Self.unit + elapsed.components.attoseconds / 1_000_000_000
        bucket.tokens = min(burst, bucket.tokens + nanoseconds * rate)
        bucket.time = now
        let allowed = bucket.tokens >= Self.unit
        if allowed { bucket.tokens -= Self.unit }
        buckets[client] = bucket
        return allowed
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard take(context.remoteAddress?.ipAddress ?? "-") else {
            var response = Routes.json(ServiceError(.tooManyRequests, "rateLimited", "too many requests from this address; slow down").json, status: .tooManyRequests)
            response.headers[.retryAfter] = "1"
            return response
        }
        return try await next(request, context)
    }
}

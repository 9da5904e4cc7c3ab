import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// A payee that would run script if any page inserted it as HTML.
let hostilePayee = #"<script>window.__backstopInjected=true</script><img src=x onerror="window.__backstopInjected=true">"#

/// The demo's ledger up to its release, then a release whose payee is `hostilePayee`,
/// proposed, approved by four delegates and submitted with the command line.
func hostileLedger() throws -> URL {
    let (ledger, _) = try Demo.prefix(try Demo.firstEntry("release"))
    let work = try makeTemporaryDirectory()
    let payload = work.appendingPathComponent("x.json").path
    let proposed = try backstop(["propose", "release", "--ledger", ledger.path, "--id", "release-x", "--claim", "breach-2022-01",
                                 "--pay", "USDC=10@pool-x", "--payee", hostilePayee, "--out", payload])
    guard proposed.status == 0 else { throw Service.ServiceFailed(message: proposed.stderr) }
    var signatures: [String] = []
    for delegate in 1...4 {
        let signature = work.appendingPathComponent("x.\(delegate).sig").path
        _ = try backstop(["approve", "--key", demoKeys.appendingPathComponent("delegate-\(delegate).key.pem").path, "--proposal", payload, "--out", signature, "--yes"])
        signatures.append(signature)
    }
    let submitted = try backstop(["submit", "--ledger", ledger.path, "--proposal", payload, "--signature"] + signatures)
    guard submitted.status == 0 else { throw Service.ServiceFailed(message: submitted.stderr) }
    return ledger
}

@Suite("The pages as a person sees them, in headless Chromium", .enabled(if: Browser.testable))
struct BrowserTests {
    /// The dashboard's figures are `status --json`'s; a payee with `<script>` shows as
    /// text and runs nothing; the page fits a phone's width.
    @Test func dashboardShowsTheLedgerAndRunsNothingFromIt() async throws {
        let ledger = try hostileLedger()
        let service = try Service(["--ledger", ledger.path])
        let status = try await service.get("/v1/status").json
        let seen = try Browser.run(["dashboard", service.url + "/", Browser.screenshots.path])
        #expect(service.stop() == 0)
        for width in ["desktop", "phone"] {
            let page = try #require(seen[width])
            #expect(page["heading"]?.stringValue == status["name"]?.stringValue)
            // Every figure of the balances table equals status --json's.
            for (asset, balance) in status["balances"]?.objectValue ?? [:] {
                for field in ["contributed", "reserved", "paid", "available"] {
                    #expect(page["balances"]?[asset]?[field] == balance[field], "\(width) \(asset) \(field)")
                }
            }
            #expect(page["balances"]?.objectValue?.count == status["balances"]?.objectValue?.count)
            let release = page["releases"]?.arrayValue?.first { $0["id"]?.stringValue == "release-x" }
            #expect(release?["payees"] == .array([.string(hostilePayee)]), "\(width)")
            #expect(release?["destinations"] == .array(["pool-x"]))
            #expect(page["injected"] == .bool(false))
            #expect(page["scripts"] == .integer(1))
            #expect(page["charts"] == .integer(9))
            #expect(page["members"] == .array(["broker-c", "exchange-a", "wallet-b"]))
            #expect(page["verify"]?.stringValue?.contains("backstop mirror --from \(service.url) --to fund-copy") == true)
            #expect((page["scrollWidth"]?.integerValue ?? 0) <= (page["viewportWidth"]?.integerValue ?? 0), "\(width): the page is wider than the screen")
        }
        for name in ["dashboard-desktop.png", "dashboard-phone.png"] {
            #expect(FileManager.default.fileExists(atPath: Browser.screenshots.appendingPathComponent(name).path))
        }
    }

    /// The report is the dashboard's views as one file: no script, nothing fetched, the
    /// same figures; a ledger that does not verify gets no report.
    @Test func reportIsSelfContained() throws {
        let ledger = try hostileLedger()
        let folder = try makeTemporaryDirectory()
        let report = folder.appendingPathComponent("report.html")
        let made = try backstop(["report", "--ledger", ledger.path, "--out", report.path])
        #expect(made.status == 0, "\(made.stderr)")
        let html = try String(contentsOf: report, encoding: .utf8)
        #expect(!html.contains("<script"))
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("url("))
        #expect(html.contains("&lt;script&gt;window.__backstopInjected=true&lt;/script&gt;"))

        let status = try JSONParser.parse(Array(try backstop(["status", "--ledger", ledger.path, "--json"]).stdout.utf8))
        let seen = try Browser.run(["report", report.path, Browser.screenshots.path])
        let page = try #require(seen["desktop"])
        for (asset, balance) in status["balances"]?.objectValue ?? [:] {
            #expect(page["balances"]?[asset]?["available"] == balance["available"])
        }
        #expect(page["injected"] == .bool(false))
        #expect(page["scripts"] == .integer(0))
        #expect(page["releases"]?.arrayValue?.first?["payees"] == .array([.string(hostilePayee)]))

        // Refusals: an existing file, a ledger that is not intact.
        #expect(try backstop(["report", "--ledger", ledger.path, "--out", report.path]).status == 2)
        let file = ledger.appendingPathComponent("ledger.jsonl")
        var bytes = Array(try Data(contentsOf: file))
        let index = bytes.firstIndex(of: UInt8(ascii: "5"))!
        bytes[index] = UInt8(ascii: "6")
        try Data(bytes).write(to: file)
        let tampered = try backstop(["report", "--ledger", ledger.path, "--out", folder.appendingPathComponent("other.html").path])
        #expect(tampered.status == 1)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("other.html").path))
    }

    /// 100 affected users sign the petition in their browsers, each with a fresh WebCrypto
    /// key; the hundredth signature files the claim, and the ledger verifies.
    @Test func hundredBrowsersSignAPetition() async throws {
        let claimSeq = try Demo.firstEntry("claim")
        let petitionSeq = claimSeq + 1  // The demo files the member's claim, then the petition's.
        let (ledger, time) = try Demo.prefix(petitionSeq)
        let service = try Service(["--ledger", ledger.path, "--now", time, "--rate-limit", "100"])
        let petition = try Demo.work("petition.json")
        let id = try sha256(petition)
        #expect(try await service.post("/v1/proposals", try bytes(petition), type: "application/json").status == 201)
        let page = try await service.get("/petitions/\(id)").text
        #expect(page.contains("<b id=\"count\">0</b> distinct signatures of the <b id=\"needed\">100</b> needed"))
        #expect(page.contains("Broker C"))

        let signed = try Browser.run(["petition", service.url + "/petitions/\(id)", "100", Browser.screenshots.path])
        #expect(signed["signed"] == .integer(100), "\(signed)")
        #expect(signed["statuses"]?.arrayValue?.last?.stringValue == "Signed. The claim is filed: entry \(petitionSeq).")
        #expect(signed["lastCount"] == .string("100"))
        #expect(signed["keyOffered"] == .bool(true))
        let after = try await service.get("/petitions/\(id)").text
        #expect(after.contains("The claim is filed: entry \(petitionSeq)."))
        #expect(service.stop() == 0)

        #expect(try backstop(["verify", "--ledger", ledger.path]).status == 0)
        let lines = try String(contentsOf: ledger.appendingPathComponent("ledger.jsonl"), encoding: .utf8).split(separator: "\n")
        let entry = try JSONParser.parse(Array(lines[petitionSeq].utf8))
        #expect(entry["kind"]?.stringValue == "claim")
        #expect(entry["signatures"]?.arrayValue?.count == 100)
    }
}

import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// The fund as web pages: the public dashboard (served at `/` by `backstop serve`), the
/// same views as one static file (`backstop report`), and the petition page. Everything is
/// server-rendered HTML with its CSS inline and charts as inline SVG; nothing is fetched
/// from elsewhere. Every string from the ledger or a payload passes through ``html(_:)``.
package enum Pages {
    /// What a page shows beyond the fund's state.
    package struct Context {
        /// The time the page is as of (dues, countdowns).
        package var now: Timestamp
        /// Balances over time and the latest entries.
        package var history: FundHistory
        /// Proposals waiting for signatures (the service's queue); nil in a static report.
        package var queue: [(id: String, analysis: ProposalAnalysis)]?
        /// How a reader gets a copy of the ledger, for the "verify it yourself" box.
        package var copyCommand: String

        package init(now: Timestamp, history: FundHistory, queue: [(id: String, analysis: ProposalAnalysis)]?, copyCommand: String) {
            self.now = now
            self.history = history
            self.queue = queue
            self.copyCommand = copyCommand
        }
    }

    /// `text` safe inside HTML text and double- or single-quoted attributes, with any
    /// scalar that could mislead a reader written as `\u{XXXX}` first.
    package static func html(_ text: String) -> String {
        var output = ""
        for character in SafeText.sanitize(text).unicodeScalars {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&#39;"
            default: output.unicodeScalars.append(character)
            }
        }
        return output
    }

    // MARK: The dashboard and the report

    /// The dashboard (`live`: served, with the queue) or the static report.
    package static func dashboard(_ state: FundState, _ context: Context, live: Bool) -> String {
        var body = """
            <header><h1>\(html(state.name))</h1>
            <p class="sub">\(live ? "Live view of the fund's ledger" : "Report made from a verified ledger") · \(state.entryCount) entries · head <code>\(Hex.encode(state.head).prefix(16))…</code> · as of \(html(context.now.description))</p></header>
            <main>
            """
        body += balances(state, context)
        body += claims(state)
        body += releases(state, context.now)
        if let queue = context.queue { body += queueSection(queue) }
        body += activity(context.history)
        body += members(state, context.now)
        body += checkpoint(state)
        body += verifyBox(state, context)
        body += "</main>"
        return document(title: "\(state.name): the fund", body: body, script: live ? "/static/dashboard.js" : nil)
    }

    private static func balances(_ state: FundState, _ context: Context) -> String {
        var out = "<section id=\"balances\"><h2>Balances</h2>"
        let assets = state.assets.keys.sorted()
        out += "<table><thead><tr><th>Asset</th><th>Contributed</th><th>Reserved</th><th>Paid</th><th>Available</th></tr></thead><tbody>"
        for asset in assets {
            let balance = state.balances[asset] ?? Balance()
            out += "<tr data-asset=\"\(html(asset))\"><th>\(html(asset))</th>"
            for (name, amount) in [("contributed", balance.contributed), ("reserved", balance.reserved), ("paid", balance.paid), ("available", balance.available)] {
                // The row names the asset: the cells show the number alone, so that a phone fits the table.
                var shown = state.show(amount, asset)
                if shown.hasSuffix(" " + asset) { shown.removeLast(asset.count + 1) }
                out += "<td class=\"num\" data-field=\"\(name)\" data-units=\"\(amount.decimalString(decimals: state.assets[asset] ?? 0))\">\(html(shown))</td>"
            }
            out += "</tr>"
        }
        out += "</tbody></table>"
        out += "<div class=\"charts\">"
        for asset in assets {
            var points = context.history.points.map { ($0.time, $0.balances[asset] ?? Balance()) }
            points.append((state.lastTime, state.balances[asset] ?? Balance()))
            out += "<figure>" + chart(points, asset: asset, state: state) + "<figcaption>\(html(asset)) over time: contributed, reserved and paid, in \(html(asset)).</figcaption></figure>"
        }
        return out + "</div></section>"
    }

    /// A line chart of contributed, reserved and paid: pixel positions come from integer
    /// arithmetic on the amounts, so no amount passes through floating point.
    private static func chart(_ points: [(Timestamp, Balance)], asset: String, state: FundState) -> String {
        let width = 600, height = 190, left = 8, top = 14
        let maximum = points.map { max($0.1.contributed, $0.1.reserved, $0.1.paid) }.max() ?? .zero
        guard let first = points.first?.0.secondsSinceEpoch, let last = points.last?.0.secondsSinceEpoch else { return "" }
        let span = max(last - first, 1)
        func x(_ time: Timestamp) -> Int { left + Int((time.secondsSinceEpoch - first) * Int64(width - 2 * left) / span) }
        func y(_ amount: Amount) -> Int {
            guard maximum > .zero else { return height - top }
            return height - top - amount.scaled(height - 2 * top - 8, of: maximum)
        }
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(html(asset)) balances over time\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<line x1=\"\(left)\" y1=\"\(height - top)\" x2=\"\(width - left)\" y2=\"\(height - top)\" class=\"axis\"/>"
        for (series, value) in [("contributed", { (b: Balance) in b.contributed }), ("reserved", { $0.reserved }), ("paid", { $0.paid })] {
            // Steps: a balance holds until the next entry changes it.
            var path = ""
            for (index, point) in points.enumerated() {
                let px = x(point.0), py = y(value(point.1))
                path += index == 0 ? "M\(px) \(py)" : " H\(px) V\(py)"
            }
            path += " H\(width - left)"
            svg += "<path class=\"\(series)\" d=\"\(path)\"><title>\(series)</title></path>"
        }
        svg += "<text x=\"\(left)\" y=\"\(top - 4)\" class=\"label\">max \(html(state.show(maximum, asset)))</text>"
        svg += "<text x=\"\(left)\" y=\"\(height - 1)\" class=\"label\">\(html(String(points[0].0.description.prefix(10))))</text>"
        svg += "<text x=\"\(width - left)\" y=\"\(height - 1)\" class=\"label\" text-anchor=\"end\">\(html(String(points[points.count - 1].0.description.prefix(10))))</text></svg>"
        svg += "<p class=\"legend\"><span class=\"key contributed\"></span>contributed <span class=\"key reserved\"></span>reserved <span class=\"key paid\"></span>paid</p>"
        return svg
    }

    private static func claims(_ state: FundState) -> String {
        var out = "<section id=\"claims\"><h2>Claims</h2>"
        let claims = state.claims.values.sorted { $0.seq < $1.seq }
        guard !claims.isEmpty else { return out + "<p>No claims.</p></section>" }
        out += "<table><thead><tr><th>Claim</th><th>Platform</th><th>Filed by</th><th>Status</th><th>Claimed vs. released</th></tr></thead><tbody>"
        for claim in claims {
            out += "<tr data-claim=\"\(html(claim.id))\"><th>\(html(claim.id))</th><td>\(html(claim.platform))</td>"
            out += "<td>\(html(claim.member.map { "member \($0)" } ?? "petition of \(claim.petitioners) users"))</td><td>\(html(claim.status.rawValue))</td><td>"
            for asset in claim.losses.keys.sorted() {
                let claimed = claim.losses[asset] ?? .zero, released = claim.committed[asset] ?? .zero
                let percent = released.scaled(100, of: claimed)
                out += "<div class=\"bar\"><svg viewBox=\"0 0 100 8\" preserveAspectRatio=\"none\" aria-hidden=\"true\"><rect width=\"100\" height=\"8\" class=\"claimed\"/><rect width=\"\(min(percent, 100))\" height=\"8\" class=\"released\"/></svg>"
                out += "<span>\(html(state.show(released, asset))) released of \(html(state.show(claimed, asset))) claimed (\(percent)%)</span></div>"
            }
            out += "</td></tr>"
        }
        return out + "</tbody></table></section>"
    }

    private static func releases(_ state: FundState, _ now: Timestamp) -> String {
        var out = "<section id=\"releases\"><h2>Pending releases</h2>"
        let pending = state.releases.values.filter { $0.status == .pending }.sorted { $0.approvedSeq < $1.approvedSeq }
        guard !pending.isEmpty else { return out + "<p>No release is pending.</p></section>" }
        for release in pending {
            out += "<article class=\"release\" data-release=\"\(html(release.id))\"><h3>\(html(release.id)) <small>for claim \(html(release.claim)), approved in entry \(release.approvedSeq)</small></h3>"
            out += "<p class=\"countdown\">\(html(countdown(release, state, now)))</p>"
            out += "<table><thead><tr><th>Amount</th><th>To</th><th>Destination</th></tr></thead><tbody>"
            for payout in release.payouts {
                out += "<tr><td class=\"num\">\(html(state.show(payout.amount, payout.asset)))</td><td>\(html(payout.payee))</td><td><code>\(html(payout.destination))</code></td></tr>"
            }
            out += "</tbody></table>"
            if let list = release.restitution {
                out += "<p>Pays the restitution list with root <code>\(html(String(list.root.prefix(16))))…</code>: \(list.accounts) accounts.</p>"
            }
            out += "</article>"
        }
        return out + "</section>"
    }

    /// When a pending release becomes payable, in words.
    package static func countdown(_ release: Release, _ state: FundState, _ now: Timestamp) -> String {
        let delay = state.releaseDelaySeconds
        if state.witnesses != nil {
            guard let seen = release.witnessedAt, let payable = seen.adding(seconds: delay) else {
                let earliest = release.payableAt <= now ? "" : " (in \(duration(release.payableAt.secondsSinceEpoch - now.secondsSinceEpoch)))"
                return "Payable from \(release.payableAt) at the earliest\(earliest): \(duration(delay)) after the witnesses cosign a checkpoint that includes it, which they have not yet."
            }
            let witnessed = state.witnessedTime.map { "the witnesses' latest cosigned time is \($0)" } ?? "no cosigned time yet"
            return payable <= now
                ? "Payable from \(payable) by witnessed time (\(witnessed)); settles once a checkpoint cosigned after it is recorded."
                : "Payable from \(payable), in \(duration(payable.secondsSinceEpoch - now.secondsSinceEpoch)) (witnessed at \(seen); \(witnessed))."
        }
        return release.payableAt <= now ? "Payable now (since \(release.payableAt))." : "Payable from \(release.payableAt), in \(duration(release.payableAt.secondsSinceEpoch - now.secondsSinceEpoch))."
    }

    /// "23 h 5 min", "2 d 4 h", "45 s".
    package static func duration(_ seconds: Int64) -> String {
        let days = seconds / 86_400, hours = seconds % 86_400 / 3_600, minutes = seconds % 3_600 / 60
        if days > 1 { return "\(days) d \(hours) h" }
        if days == 1 { return "\(24 + hours) h \(minutes) min" }
        if hours > 0 { return "\(hours) h \(minutes) min" }
        if minutes > 0 { return "\(minutes) min \(seconds % 60) s" }
        return "\(max(seconds, 0)) s"
    }

    private static func queueSection(_ queue: [(id: String, analysis: ProposalAnalysis)]) -> String {
        var out = "<section id=\"queue\"><h2>Waiting for signatures</h2>"
        guard !queue.isEmpty else { return out + "<p>Nothing is waiting.</p></section>" }
        out += "<table><thead><tr><th>Proposal</th><th>Signed</th><th>Missing</th><th>Would be accepted now</th></tr></thead><tbody>"
        for (id, analysis) in queue {
            let header = analysis.payload.header
            var name = "\(html(header.kind.rawValue)) <b>\(html(header.id))</b>"
            if let claim = analysis.payload.body as? ClaimPayload, claim.member == nil { name += " · <a href=\"/petitions/\(id)\">sign this petition</a>" }
            out += "<tr data-proposal=\"\(id)\"><td>\(name)<br><small>expires \(html(header.expires.description))</small></td>"
            if let intake = analysis.intake {
                if let threshold = intake.policy.petitionThreshold {
                    out += "<td>\(intake.signatures.count) of \(threshold) petitioners</td><td>\(max(threshold - intake.signatures.count, 0))</td>"
                } else {
                    out += "<td>" + intake.policy.groups.map { "\(intake.signed(in: $0).count) of \($0.threshold): \(html(intake.signed(in: $0).joined(separator: ", ")))" }.joined(separator: "<br>") + "</td>"
                    out += "<td>" + intake.policy.groups.map { html(intake.missing(in: $0).joined(separator: ", ")) }.joined(separator: "<br>") + "</td>"
                }
            } else {
                out += "<td>–</td><td>–</td>"
            }
            let verdict = analysis.wouldBeAccepted ? "yes" : "no: " + (analysis.problems.first?.message ?? analysis.refusal?.reason ?? "")
            out += "<td>\(html(verdict))</td></tr>"
        }
        return out + "</tbody></table></section>"
    }

    private static func activity(_ history: FundHistory) -> String {
        var out = "<section id=\"activity\"><h2>Latest entries, and who signed them</h2><ol class=\"entries\" reversed>"
        for item in history.activity.reversed() {
            // The summary's own "signed by" shortens names; the line below gives them whole.
            let summary = item.summary.range(of: "; signed by ").map { String(item.summary[..<$0.lowerBound]) } ?? item.summary
            out += "<li value=\"\(item.seq)\"><span class=\"meta\">#\(item.seq) · \(html(item.time.description)) · \(html(item.kind))</span> \(html(summary))"
            if !item.signers.isEmpty {
                let names = item.signers.count > 8 ? Array(item.signers.prefix(8)) + ["and \(item.signers.count - 8) more"] : item.signers
                out += "<br><small>signed by \(html(names.joined(separator: ", ")))</small>"
            }
            out += "</li>"
        }
        return out + "</ol></section>"
    }

    private static func members(_ state: FundState, _ now: Timestamp) -> String {
        var out = "<section id=\"members\"><h2>Members</h2><table><thead><tr><th>Member</th><th>Status</th><th>Dues this period</th><th>Assessment</th></tr></thead><tbody>"
        for member in state.members.values.sorted(by: { $0.id < $1.id }) {
            let dues = currentDues(member, state, at: now)
            let asset = state.policy.asset
            let schedule = state.assessmentSchedule(member: member.id)
            var assessment = state.assessments[member.id]?.last.map { "last: \($0.kind.rawValue) by \($0.assessor), \($0.date)" } ?? "none recorded"
            if let due = schedule.due { assessment += due < now ? "; OVERDUE since \(due)" : "; next due \(due)" }
            out += "<tr data-member=\"\(html(member.id))\"><th>\(html(member.id))<br><small>\(html(member.platform))</small></th><td>\(html(memberStatus(member, state, at: now)))</td>"
            out += "<td>\(html(state.show(dues.paid, asset))) paid of \(html(state.show(dues.owed, asset)))\(dues.deadline.map { "<br><small>due by \(html($0.description))</small>" } ?? "")</td>"
            out += "<td>\(html(assessment))</td></tr>"
        }
        return out + "</tbody></table></section>"
    }

    private static func checkpoint(_ state: FundState) -> String {
        var out = "<section id=\"checkpoint\"><h2>Witnessed history</h2>"
        guard let policy = state.witnesses else { return out + "<p>This fund names no witnesses: its times rest on the host's clock.</p></section>" }
        let (cosigners, quorum) = policy.effective(state)
        out += state.checkpointSize > 0
            ? "<p>The latest cosigned checkpoint covers the first <b>\(state.checkpointSize)</b> entries; witnessed time \(html(state.witnessedTime?.description ?? "none"))."
            : "<p>No cosigned checkpoint is recorded yet."
        out += " Any \(quorum) of these witnesses cosign:</p><ul>" + cosigners.map { "<li>\(html($0.name))</li>" }.joined() + "</ul></section>"
        return out
    }

    private static func verifyBox(_ state: FundState, _ context: Context) -> String {
        """
        <section id="verify"><h2>Verify it yourself</h2>
        <p>Don't take this page's word for it: get a copy of the ledger and check every entry, signature and rule on your own machine.</p>
        <pre>\(html(context.copyCommand))
        backstop verify --ledger fund-copy
        backstop status --ledger fund-copy</pre>
        <p>The head must be <code>\(Hex.encode(state.head))</code> at \(state.entryCount) entries. <code>Docs/</code> specifies the format, so an auditor can check it in any language.</p></section>
        """
    }

    // MARK: The petition page

    /// The page where an affected user reads a petition and signs it in the browser.
    package static func petition(id: String, analysis: ProposalAnalysis, state: FundState, recordedAs: Int64?) -> String {
        let screen = Screen(analysis.payload, state: state)
        let threshold = analysis.intake?.policy.petitionThreshold ?? state.petitionThreshold
        let distinct = analysis.intake?.signatures.count ?? 0
        var body = "<header><h1>Petition to \(html(state.name))</h1><p class=\"sub\">A claim filed when \(threshold) affected users sign it.</p></header><main>"
        body += "<section id=\"petition\" data-queue=\"\(id)\"><h2>What you sign</h2><pre class=\"screen\">"
        body += screen.rendered.map(html).joined(separator: "\n")
        for note in screen.notes { body += "\nNOTE: " + html(note) }
        for warning in screen.warnings { body += "\nWARNING: " + html(warning) }
        // What the rules say now, as the CLI warns before signing.
        let problems = analysis.problems.map(\.message)
        let refused = analysis.refusal.flatMap { refusal in
            refusal.reason == analysis.intake?.shortfall?.reason || refusal.rule == .tooEarly ? nil : refusal.reason
        }
        for problem in problems + (refused.map { ["the rules would refuse it now: \($0)"] } ?? []) { body += "\nWARNING: " + html(problem) }
        body += "</pre><p>Exact bytes: <a href=\"/v1/proposals/\(id)/payload\">payload</a> (SHA-256 <code>\(id)</code>).</p>"
        body += "<p class=\"progress\"><b id=\"count\">\(distinct)</b> distinct signatures of the <b id=\"needed\">\(threshold)</b> needed.</p>"
        if let recordedAs {
            body += "<p id=\"sign-status\" class=\"done\">The claim is filed: entry \(recordedAs).</p>"
        } else if !problems.isEmpty || refused != nil {
            body += "<p id=\"sign-status\" class=\"warning\">This petition can no longer be filed (see the warning above): it takes no signatures.</p>"
        } else {
            body += """
                <div class="sign"><label><input type="checkbox" id="confirm-read"> I have read the petition above and I am an affected user.</label>
                <p><button id="sign" type="button" disabled>Sign in this browser</button></p>
                <p><label>Or sign with a key saved earlier: <input type="file" id="saved-key" accept=".pem"></label></p>
                <p id="sign-status" role="status"></p>
                <p><a id="download-key" download="petition-key.pkcs8.pem" hidden>Download your key (PKCS#8 PEM) to sign again later</a></p>
                <p class="small">Your key is made in this browser with WebCrypto (ECDSA P-256) and never leaves it; the page sends only the signature and the public key.</p></div>
                """
        }
        body += "</section></main>"
        let signable = recordedAs == nil && problems.isEmpty && refused == nil
        return document(title: "Petition \(analysis.payload.header.id)", body: body, script: signable ? "/static/petition.js" : nil)
    }

    // MARK: The document

    private static func document(title: String, body: String, script: String?) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(html(title))</title><style>\(css)</style></head>
        <body>\(body)\(script.map { "<script src=\"\($0)\"></script>" } ?? "")</body></html>
        """
    }

    static let css = """
        body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
        header{background:#17324d;color:#fff;padding:1rem 1.25rem}header h1{margin:0;font-size:1.5rem}.sub{margin:.25rem 0 0;opacity:.85;font-size:.9rem}
        main{max-width:70rem;margin:0 auto;padding:.5rem 1rem 2rem}section{background:#fff;border-radius:8px;padding:.75rem 1rem;margin:1rem 0;box-shadow:0 1px 2px #0002;overflow-x:auto}
        h2{font-size:1.15rem;margin:.25rem 0 .75rem}table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e6ea;vertical-align:top}
        .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}code,pre{font-family:ui-monospace,monospace;font-size:.85rem;overflow-wrap:anywhere}
        pre{background:#f0f2f5;padding:.75rem;border-radius:6px;white-space:pre-wrap}figure{margin:1rem 0}figcaption,.legend,small,.small{color:#57606a;font-size:.85rem}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(17rem,1fr));gap:0 1.5rem}.chart{width:100%;height:auto}.chart path{fill:none;stroke-width:2.5}.axis{stroke:#8c959f}.label{font-size:11px;fill:#57606a}
        .contributed{stroke:#1f77b4;background:#1f77b4}.reserved{stroke:#e69f00;background:#e69f00}.paid{stroke:#2ca02c;background:#2ca02c}
        .key{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin:0 .25rem 0 .75rem;vertical-align:middle}
        .bar svg{width:100%;max-width:16rem;height:.6rem;display:block}.bar rect.claimed{fill:#e3e6ea}.bar rect.released{fill:#2ca02c}.bar{margin:.2rem 0}
        .countdown{font-weight:600;color:#8a4b00}.entries li{margin:.35rem 0}.meta{color:#57606a;font-size:.85rem}
        .screen{font-size:.85rem}.progress{font-size:1.1rem}button{font-size:1rem;padding:.5rem 1rem;border-radius:6px;border:0;background:#17324d;color:#fff}button:disabled{background:#8c959f}
        .done{color:#1a7f37;font-weight:600}.warning{color:#b42318;font-weight:600}
        @media (max-width:40rem){main{padding:.25rem .5rem}section{padding:.5rem .6rem}th,td{padding:.3rem .3rem}table{font-size:.85rem}}
        """
}

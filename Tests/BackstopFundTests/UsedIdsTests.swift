@testable import BackstopFund
import BackstopLedger
import Testing

@Suite("Used payload ids: a sorted table and recent ids, against a plain dictionary")
struct UsedIdsTests {
    @Test("150,000 ids across merges: every lookup as a dictionary answers it; copies are independent; equality ignores history")
    func againstDictionary() {
        var ids = UsedIds()
        var reference: [String: Int64] = [:]
        var generator = SystemRandomNumberGenerator()
        for seq in 0..<150_000 {
            let id = "id-\(UInt64.random(in: 0...UInt64.max, using: &generator))"
            guard reference[id] == nil else { continue }
            ids.insert(id, seq: Int64(seq))
            reference[id] = Int64(seq)
        }
        #expect(ids.count == reference.count)
        var wrong = 0
        for (id, seq) in reference where ids[id] != seq { wrong += 1 }
        #expect(wrong == 0)
        #expect(ids["never used"] == nil && ids["id-"] == nil)
        // A copy taken before more inserts (and merges) keeps its own contents.
        let before = ids
        for seq in 0..<UsedIds.recentLimit { ids.insert("later-\(seq)", seq: Int64(200_000 + seq)) }
        #expect(before["later-5"] == nil && ids["later-5"] == 200_005 && before.count == reference.count)
        // The same ids inserted in another order, merged at other points, are equal.
        var other = UsedIds()
        for (id, seq) in reference.sorted(by: { $0.value > $1.value }) { other.insert(id, seq: seq) }
        #expect(other == before && other != ids)
        #expect(UsedIds(sorted: before.sortedRecords) == before)
    }

    @Test("entry times kept as runs answer every index as a plain array would, across removals")
    func timeRuns() {
        var runs = TimeRuns()
        var plain: [Timestamp] = []
        var generator = SystemRandomNumberGenerator()
        var time = Timestamp("2026-01-01T00:00:00Z")!
        for _ in 0..<5_000 {
            if Int.random(in: 0..<4, using: &generator) == 0 { time = time.adding(seconds: Int64.random(in: 1...100, using: &generator))! }
            runs.append(time)
            plain.append(time)
            if Int.random(in: 0..<200, using: &generator) == 0 {
                let n = Int.random(in: 0...plain.count, using: &generator)
                runs.removeFirst(Int64(n))
                plain.removeFirst(n)
            }
        }
        #expect(runs.count == Int64(plain.count) && runs.runs.count < plain.count / 2)
        #expect(plain.indices.allSatisfy { runs.time(at: Int64($0)) == plain[$0] })
        #expect(runs.time(at: Int64(plain.count)) == nil && runs.time(at: -1) == nil)
        runs.removeFirst(Int64(plain.count) + 10)
        #expect(runs.count == 0 && runs.runs.isEmpty)
    }
}

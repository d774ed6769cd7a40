import ServerLogging
import Testing

@Suite("LogThrottle")
struct LogThrottleTests {
    @Test("ten notices a second pass; the next that passes counts those left out")
    func throttle() {
        let throttle = LogThrottle(limit: 10, per: .seconds(1))
        let start = ContinuousClock.now
        for _ in 0..<throttle.limit { #expect(throttle.admit(now: start) == 0) }
        for _ in 0..<25 { #expect(throttle.admit(now: start) == nil) }
        #expect(throttle.admit(now: start + .seconds(1)) == 25)
        #expect(throttle.admit(now: start + .seconds(1)) == 0)
    }
}

// BatchProgress: the text of a progress line within an epoch ("epoch 2/5: 120/469 batches, 812 samples/s,
// epoch ends in 0:25, run in 2:10"), at most twice a second; `train`, `run` and a sweep on a terminal
// draw it in place. The clock starts at each epoch's first batch.

import Foundation

public final class BatchProgress {
    let epochs: Int, batch: Int
    private var epochStart = Date(), epoch = 0, lastDraw = Date.distantPast

    public init(epochs: Int, batch: Int) { self.epochs = epochs; self.batch = batch }

    /// The line after `done` of `total` batches of `epoch`, or nil when the last one is under 0.5 s old.
    public func line(_ epoch: Int, _ done: Int, _ total: Int) -> String? {
        if epoch != self.epoch { self.epoch = epoch; epochStart = Date() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.5 || done == total else { return nil }
        lastDraw = now
        let elapsed = now.timeIntervalSince(epochStart), perBatch = elapsed / Double(max(1, done))
        let epochLeft = perBatch * Double(max(0, total - done)), runLeft = epochLeft + perBatch * Double(total * (epochs - epoch))
        return "epoch \(epoch)/\(epochs): \(done)/\(total) batches, " + String(format: "%.0f samples/s", Double(done * batch) / max(1e-9, elapsed))
            + ", epoch ends in \(BatchProgress.clock(epochLeft)), run in \(BatchProgress.clock(runLeft))"
    }

    /// "m:ss" or "h:mm:ss".
    public static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

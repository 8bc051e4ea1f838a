// BlockProfile: what each unit of a model costs to train here, measured: forward in training mode plus
// backward (input gradient included except for the first unit), on random data at a given batch, on the
// calling thread's engine workers; the median of a few repeats after one warm-up. The cost model and
// `model describe --measure` read it; the `balanced` split does not (it must not depend on the machine).

import Engine
import Foundation

public enum BlockProfile {
    /// Seconds per training step of each unit at `batch` (median of `repeats` after one warm-up).
    public static func measureUnits(_ model: Model, batch: Int, repeats: Int = 3) throws -> [Double] {
        let shapes = try model.unitShapes(batch: batch)
        var rng = RandomStream(seed: 0, name: "profile/input")
        var input = Tensor([batch] + model.sampleShape)
        if model.spec.isSequence {
            for i in 0..<input.count { input[i] = Float(rng.below(max(1, model.spec.vocabulary))) }
        } else { rng.fillNormal(input, std: 1) }
        var out: [Double] = []
        for (i, u) in model.units.enumerated() {
            let dy = Tensor(shapes[i]); rng.fillNormal(dy, std: 0.01)
            var times: [Double] = []
            for r in 0..<(repeats + 1) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let y = u.layer.forward(input, mode: .train)
                _ = u.layer.backward(dy, inputGradient: i > 0)
                if r > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
                if r == repeats { input = Tensor(y.shape, y.array) }   // the next unit's input
            }
            for p in u.layer.parameters { p.grad.zero() }
            out.append(times.sorted()[times.count / 2])
        }
        return out
    }
}

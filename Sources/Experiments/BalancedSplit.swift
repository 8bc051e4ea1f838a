// BalancedSplit: `split = "balanced"` made concrete before a run's id is computed (the cuts: Scheduling/
// BlockBalance, from a per-unit profile measured and cached here). As torchgpipe's balance_by_time does,
// the answer is an explicit balance: the config then holds `cuts:i,j,…`, so the run id names the cut and
// the run's bits never depend on a measurement; the cached profile makes the same command on the same
// machine resolve to the same cut, so a killed run resumes.

import Engine
import Foundation
import Methods
import Scheduling

public enum BalancedSplit {
    /// Returns `c` with a `balanced` split replaced by the measured cuts (unchanged otherwise), and a line
    /// that says what was chosen.
    public static func resolve(_ c: RunConfig, profiles directory: String) throws -> (config: RunConfig, note: String?) {
        guard c.split == .balanced else { return (c, nil) }
        let spec = try c.builtModelSpec()
        let model = try spec.build(seed: 0)
        let (starts, share) = try BlockBalance.starts(model, blocks: c.blocks, headMACs: Methods.headMACs(c.method, classes: spec.classes),
                                                      batch: c.batch, profiles: directory)
        var out = c
        out.split = c.blocks == 1 ? .even : .cuts(Array(starts.dropFirst()))
        return (out, String(format: "balanced split (measured here, batch %d, 1 thread): %@; costliest block %.0f %% of the step", c.batch, out.split.description, 100 * share))
    }
}

// A sweep's local worker processes: `jobs` copies of this binary, each `blocklocal sweep … --worker`,
// taking runs of the plan by their locks. The parent supervises them: Ctrl-C and SIGTERM reach every
// worker; a worker that crashes (a signal other than an interruption) has the run it was training marked
// failed with the signal, and a new worker takes its place, so the sweep goes on.

import Foundation

public struct SweepWorkers {
    /// The worker's command line after `blocklocal` (`sweep SPEC … --worker …`).
    public let arguments: [String]
    public let jobs: Int
    public let plan: SweepPlan
    public let executor: RunExecutor
    public let runsDirectory: String

    public init(arguments: [String], jobs: Int, plan: SweepPlan, executor: RunExecutor, runsDirectory: String) {
        self.arguments = arguments; self.jobs = jobs; self.plan = plan; self.executor = executor; self.runsDirectory = runsDirectory
    }

    /// Where a worker records the run it is training (read by the parent when the worker crashes).
    public static func workerFile(_ runs: String, _ pid: pid_t) -> String { runs + "/.workers/\(pid)" }

    /// Runs the workers to the end. Returns the exit status of the first worker that failed (0: none);
    /// `log` gets one line per run a crash failed.
    public func run(log: (String) -> Void) throws -> Int32 {
        try FileManager.default.createDirectory(atPath: runsDirectory + "/.workers", withIntermediateDirectories: true)
        func spawn() throws -> Process {
            let p = Process(); p.executableURL = URL(fileURLWithPath: "/proc/self/exe"); p.arguments = arguments
            try p.run(); return p
        }
        var procs = try (0..<jobs).map { _ in try spawn() }
        Interrupt.forward(to: procs.map(\.processIdentifier))
        let crashSignals = CrashMarker.signals
        var finished: [Process] = [], crashes = 0
        while !procs.isEmpty {
            Thread.sleep(forTimeInterval: 0.1)
            for p in procs where !p.isRunning {
                procs.removeAll { $0 === p }
                let file = SweepWorkers.workerFile(runsDirectory, p.processIdentifier)
                defer { try? FileManager.default.removeItem(atPath: file) }
                guard p.terminationReason == .uncaughtSignal, let name = crashSignals[p.terminationStatus], !Interrupt.requested else {
                    finished.append(p); continue
                }
                crashes += 1
                if let id = try? String(contentsOfFile: file, encoding: .utf8), let r = plan.runs.first(where: { $0.config.runID == id }) {
                    let reason = "the worker process crashed with signal \(p.terminationStatus) (\(name)) while training it"
                    if (try? executor.markCrashed(r.config, reason: reason, origin: r.origin)) == true {
                        log("FAILED \(id) \(r.config.label): \(reason); the sweep goes on")
                    }
                }
                if crashes <= plan.runs.count {
                    procs.append(try spawn()); Interrupt.forward(to: procs.map(\.processIdentifier))
                }
            }
        }
        return finished.first { $0.terminationStatus != 0 }?.terminationStatus ?? 0
    }
}

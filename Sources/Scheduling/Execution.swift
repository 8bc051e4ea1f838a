// How a run's blocks are executed: the mode (part of the run config) and the machine-side knobs (threads,
// workers, queue depth; recorded in provenance, not in the run id, since they do not change the bits
// beyond the per-block thread count). Every execution knob is declared here.

import Engine
import Methods

/// How the blocks of a run are scheduled. Sequential is the default and is stored as no value, so run
/// ids from before this field stay the same.
public enum ParallelMode: String, Codable, CaseIterable, Sendable {
    case sequential, pipeline, mpi
    public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }

    public init(parsing s: String) throws {
        guard let m = ParallelMode(rawValue: s) else { throw PipelineError.invalid(name: "--parallel", value: s, allowed: ParallelMode.list) }
        self = m
    }

    /// Rules whose blocks wait for the whole backward pass cannot be pipelined.
    public static func check(_ mode: ParallelMode?, method: MethodName) throws {
        if let mode, mode != .sequential, method.isLocked { throw PipelineError.lockedRule(method.rawValue, mode: mode.rawValue) }
    }
}

public struct ExecutionSettings: Sendable {
    /// Engine threads of a sequential run (all blocks), and the budget split among pipeline workers.
    public var threads: Int
    /// Engine threads of each pipeline worker; nil: max(1, threads / workers).
    public var threadsPerBlock: Int?
    /// Pipeline workers; nil: one per block.
    public var workers: Int?
    /// Batches a pipeline worker may run ahead of the next one.
    public var queueDepth: Int = 1
    /// The MPI job of a `--parallel mpi` run (one rank per block).
    public var session: MPISession? = nil

    public init(threads: Int, threadsPerBlock: Int? = nil, workers: Int? = nil, queueDepth: Int = 1, session: MPISession? = nil) {
        self.threads = threads; self.threadsPerBlock = threadsPerBlock; self.workers = workers; self.queueDepth = queueDepth
        self.session = session
    }

    /// Workers and engine threads per worker for a run of `blocks` blocks (the defaults made concrete).
    func resolved(blocks: Int) -> (workers: Int, threadsPerBlock: Int) {
        let w = workers ?? blocks
        return (w, threadsPerBlock ?? max(1, threads / max(1, w)))
    }

    /// The scheduler for `rule` under `mode`.
    public func scheduler(for rule: LearningRule, mode: ParallelMode?) throws -> StepScheduler {
        switch mode ?? .sequential {
        case .sequential: return SequentialScheduler(workers: max(1, threads))
        case .pipeline:
            let r = resolved(blocks: rule.blocks.count)
            return try PipelineScheduler(rule: rule, workers: r.workers, threadsPerWorker: r.threadsPerBlock, queueDepth: queueDepth)
        case .mpi:
            guard let session else { throw PipelineError.noLauncher(blocks: rule.blocks.count) }
            let r = resolved(blocks: rule.blocks.count)
            return try MPIScheduler(rule: rule, session: session, threadsPerWorker: r.threadsPerBlock, queueDepth: queueDepth)
        }
    }

    /// What a run file records of these settings.
    /// The execution's counts for the run file's provenance (the MPI launcher's name is `session`'s).
    public func provenance(mode: ParallelMode?, blocks: Int) -> [String: Int] {
        let r = resolved(blocks: blocks)
        switch mode ?? .sequential {
        case .sequential: return ["threads": threads]
        case .pipeline:
            return ["threads": threads, "pipeline_workers": r.workers, "threads_per_block": r.threadsPerBlock, "queue_depth": queueDepth]
        case .mpi:
            return ["mpi_ranks": blocks, "threads_per_block": r.threadsPerBlock, "queue_depth": queueDepth]
        }
    }
}

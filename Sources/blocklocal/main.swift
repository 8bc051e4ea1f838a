// The blocklocal command line: parses arguments and calls the modules; no logic of its own.
import ArgumentParser
import Engine
import Foundation
import Datasets
import Experiments
import MessagePassing
import Scheduling
import Store

// OpenBLAS chooses its kernels when it loads: re-run once with a better core type if it
// fell back to AVX2 on an AVX-512 CPU (see Engine/Core/CPU.swift). BLOCKLOCAL_NO_REEXEC=1 opts out.
let environment = ProcessInfo.processInfo.environment
if environment["BLOCKLOCAL_NO_REEXEC"] == nil,
   let core = CPU.betterBLASCore(current: Engine.blasCore, environment: environment) {
    setenv("OPENBLAS_CORETYPE", core, 1)
    let args = CommandLine.arguments
    var cargs = args.map { strdup($0) } + [nil]
    execv("/proc/self/exe", &cargs)
    // execv returns only on failure: go on with the kernels OpenBLAS picked
}

// Errors: one line on stderr, no usage footer after it; exit 1 for every user error (ArgumentParser's 64
// included), 2 for data and I/O errors, 130 when interrupted. Under an MPI launcher, ranks other than 0
// stay quiet about errors every rank meets alike (bad flags) and exit 0: rank 0 says it once and its
// status is the job's (a rank exiting 1 first could make the launcher stop rank 0 before it printed).
/// A mistyped subcommand ("trian", "runs lst"): the one-line error naming the commands there and the
/// closest one, or nil when the words before the first option name commands.
func unknownSubcommand(_ args: [String]) -> String? {
    var command: ParsableCommand.Type = Blocklocal.self
    var path = ["blocklocal"]
    for word in args {
        let subs = command.configuration.subcommands
        guard !subs.isEmpty, !word.hasPrefix("-") else { return nil }
        if word == "help" { return nil }
        guard let next = subs.first(where: { $0._commandName == word }) else {
            let names = subs.map { $0._commandName }
            return "unknown command '\(word)' for \(path.joined(separator: " "))\(Suggestion.phrase(word, in: names)); commands: \(names.joined(separator: ", "))"
        }
        command = next; path.append(word)
    }
    return nil
}

if let message = unknownSubcommand(Array(CommandLine.arguments.dropFirst())), Launcher.detect() == nil {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    exit(1)
}

/// Exit 2: the data or a file is at fault (damaged, unreadable, a failed download or write, a lost MPI
/// peer), not the command line; an unknown dataset name is the user's (1).
func isDataOrIOError(_ error: Error) -> Bool {
    switch error {
    case let d as DatasetError: if case .unknownDataset = d { return false } else { return true }
    case is HDF5Error, is RunFileError, is MPISession.PeerFailure, is CocoaError: return true
    default: return false
    }
}

do {
    var command = try Blocklocal.parseAsRoot()
    try command.run()
} catch {
    let code = Blocklocal.exitCode(for: error)
    if code == .success { Blocklocal.exit(withError: error) }   // --help, --version
    var message = Blocklocal.message(for: error)
    if let e = error as? CocoaError {   // Foundation's file errors: the path and the system's reason, on one line
        let reason = (e.userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription ?? e.localizedDescription
        message = "\(e.filePath.map { "\($0.isEmpty ? "(empty path)" : $0): " } ?? "")\(reason)"
    }
    let quiet = (Launcher.detect()?.rank ?? 0) > 0 && !(error is MPIJob.RankFailure) && !(error is ExitCode)
    if !message.isEmpty && !quiet { FileHandle.standardError.write(Data("Error: \(message)\n".utf8)) }
    exit(quiet ? 0 : isDataOrIOError(error) ? 2 : code.rawValue == ExitCode.validationFailure.rawValue ? 1 : code.rawValue)
}

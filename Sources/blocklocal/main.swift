// The blocklocal command line: parses arguments and calls the modules; no logic of its own.
import ArgumentParser
import Engine
import Foundation

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

Blocklocal.main()

// The blocklocal command line: parses arguments and calls the modules; no logic of its own.
import ArgumentParser
import Engine

Blocklocal.main()

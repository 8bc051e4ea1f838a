import ArgumentParser
import Datasets
import Foundation

/// Where datasets are cached and where their original files may already be (every data knob).
struct DataOptions: ParsableArguments {
    @Option(help: "Dataset cache directory (env BLOCKLOCAL_DATA; default ./datasets).")
    var dataDir: String = ProcessInfo.processInfo.environment["BLOCKLOCAL_DATA"] ?? "datasets"
    @Option(help: "Directory (or file:// URL) with the original files, tried before any download (env BLOCKLOCAL_MIRROR).")
    var mirror: String? = ProcessInfo.processInfo.environment["BLOCKLOCAL_MIRROR"]
    @Flag(help: "Do not try the original URLs.")
    var offline = false

    var store: DatasetStore { DatasetStore(directory: dataDir) }
    var fetchOptions: FetchOptions {
        FetchOptions(mirror: mirror, network: !offline, log: { print($0) })
    }
}

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Fetch, verify and inspect the datasets (cached as HDF5).",
        subcommands: [List.self, Fetch.self, Info.self, Verify.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each dataset: size, whether it is cached, where it comes from.")
        @OptionGroup var data: DataOptions
        func run() throws {
            print("name".padded(15) + "size".leftPadded(9) + "  " + "cache".padded(9) + "source")
            for d in Registry.all {
                let state: String
                switch try data.store.status(d) {
                case .valid: state = "cached"
                case .missing: state = "-"
                case .stale: state = "stale"
                }
                let mb = String(format: "%.0f MB", Double(d.approximateBytes) / 1e6)
                let source = (d.localDirectories.map { "\($0) (Debian package)" } + [d.files.first?.urls.first ?? ""]).joined(separator: ", ")
                print(d.name.padded(15) + mb.leftPadded(9) + "  " + state.padded(9) + source)
            }
            for g in Registry.generated { print(g.name.padded(15) + "-".leftPadded(9) + "  " + "generated".padded(10) + g.title) }
        }
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fetch, verify and convert datasets into <data-dir>/<name>.h5.")
        @OptionGroup var data: DataOptions
        @Argument(help: "Dataset names (see `blocklocal data list`).") var names: [String] = []
        @Flag(help: "Every fetchable dataset.") var all = false
        @Flag(help: "Report a dataset that cannot be had and go on (exit 0); for `make reproduce`.") var skipMissing = false

        func validate() throws {
            guard all || !names.isEmpty else { throw ValidationError("name a dataset or pass --all; known: \(Registry.names.joined(separator: ", "))") }
        }
        func run() throws {
            let wanted = all ? Registry.all.map(\.name) : names
            var failed: [String] = []
            for name in wanted where !Registry.generated.contains(where: { $0.name == name }) {
                let def = try Registry.definition(name)
                do { try data.store.fetch(def, options: data.fetchOptions) }
                catch let e as DatasetError where skipMissing {
                    print("skipped \(name): \(e)"); failed.append(name)
                }
            }
            if !failed.isEmpty { print("not available here: \(failed.joined(separator: ", "))") }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What a cache file records: shapes, classes, sources, tool version, date.")
        @OptionGroup var data: DataOptions
        @Argument var name: String
        func run() throws {
            _ = try Registry.definition(name)
            for (k, v) in try data.store.info(name) { print(k.padded(16) + v) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that a cache file matches the registry's checksums and holds consistent data.")
        @OptionGroup var data: DataOptions
        @Argument var name: String
        func run() throws {
            let def = try Registry.definition(name)
            switch try data.store.status(def) {
            case .missing: throw DatasetError.notCached(dataset: name)
            case .stale(let why): throw ValidationError("\(name): cache is stale (\(why)); run `blocklocal data fetch \(name)` to rebuild it")
            case .valid: break
            }
            let ds = try data.store.load(name)
            try ds.validate(name: name)
            print("\(name): ok (\(ds.train.count) train, \(ds.test.count) test, \(ds.channels)x\(ds.height)x\(ds.width), \(ds.classNames.count) classes)")
        }
    }
}

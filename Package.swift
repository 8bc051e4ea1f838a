// swift-tools-version: 6.0
// blocklocal: a reproducibility and benchmarking harness for block-local training.
import PackageDescription

let package = Package(
    name: "blocklocal",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "blocklocal", targets: ["blocklocal"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Store", targets: ["Store"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // MARK: - C at the edges (one Swift module imports each)
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CGzip", path: "Sources/CGzip", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),

        // MARK: - Modules
        .target(name: "Engine", dependencies: ["CBLAS"]),
        .target(name: "Store", dependencies: ["CHDF5"]),
        .target(name: "Datasets", dependencies: [
            "Engine", "Store", "CGzip", "CJPEG",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
        .target(name: "Methods", dependencies: ["Engine", "Datasets"]),
        .target(name: "MessagePassing", dependencies: ["CMPI"]),
        .target(name: "Scheduling", dependencies: ["Engine", "Methods", "MessagePassing", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Experiments", dependencies: [
            "Engine", "Store", "Datasets", "Methods", "Scheduling", "Bench", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Report", dependencies: ["Experiments", "Methods", "Datasets", "Engine", "Bench"]),
        .target(name: "Bench", dependencies: ["Engine", "Methods", "Scheduling", "MessagePassing", "Datasets"]),
        .executableTarget(name: "blocklocal", dependencies: [
            "Engine", "Store", "Datasets", "Methods", "Scheduling", "MessagePassing", "Experiments", "Report", "Bench",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: - Tests
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Store", "Engine"]),
        .testTarget(name: "MethodsTests", dependencies: ["Methods", "Datasets", "Engine"]),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling", "MessagePassing", "Methods", "Datasets", "Engine"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Methods", "Engine", "Store", "Scheduling"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Experiments", "Methods", "Engine", "Bench", "Store"]),
        .testTarget(name: "CLITests", dependencies: ["blocklocal"]),
    ],
    swiftLanguageModes: [.v5]
)

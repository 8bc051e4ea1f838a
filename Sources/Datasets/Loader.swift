// ImageLoader: batches from an in-memory split, as float tensors normalised per channel
// ((x/255 − mean)/std), with the papers' augmentation (random crop from a zero-padded image,
// horizontal flip), in an order shuffled per epoch. Order and augmentation come from the streams
// (seed, "shuffle/epoch-e") and (seed, "augment/epoch-e"): every method of a sweep sees the same
// data in the same order, and a resumed run sees what an uninterrupted one would have.

import Engine

extension ImageSplit {
    /// A fixed random subset of `count` samples (all when count ≥ the split).
    public func subset(_ count: Int, seed: UInt64) -> ImageSplit {
        guard count < self.count else { return self }
        var rng = RandomStream(seed: seed, name: "subset")
        let picked = rng.permutation(self.count).prefix(count).sorted()
        return gather(Array(picked))
    }

    /// (train, validation) with `validation` samples held out by a fixed permutation.
    public func split(validation: Int, seed: UInt64) -> (train: ImageSplit, validation: ImageSplit) {
        var rng = RandomStream(seed: seed, name: "validation-split")
        let p = rng.permutation(count)
        let v = min(validation, count)
        return (gather(p[v...].sorted()), gather(p[..<v].sorted()))
    }

    func gather(_ indices: [Int]) -> ImageSplit {
        let size = count > 0 ? images.count / count : 0
        var img = [UInt8](); img.reserveCapacity(indices.count * size)
        for i in indices { img += images[(i * size)..<((i + 1) * size)] }
        return ImageSplit(images: img, labels: indices.map { labels[$0] })
    }

    /// Samples per class, for checks.
    public func classCounts(_ classes: Int) -> [Int] {
        var c = [Int](repeating: 0, count: classes)
        for l in labels where l >= 0 && Int(l) < classes { c[Int(l)] += 1 }
        return c
    }
}

public final class ImageLoader {
    public let split: ImageSplit
    public let channels: Int, height: Int, width: Int
    public let batchSize: Int
    public let augmentation: Augmentation
    public let shuffle: Bool
    /// Whether an epoch leaves out the last, smaller batch (PyTorch's `drop_last`; the BLL code's loader).
    public let dropLast: Bool
    let scale: [Float], shift: [Float]   // x·scale + shift = (x/255 − mean)/std
    let seed: UInt64
    public let images = Tensor([0])
    public private(set) var labels: [Int32] = []

    public init(split: ImageSplit, channels: Int, height: Int, width: Int, mean: [Float], std: [Float],
                batchSize: Int, shuffle: Bool, augmentation: Augmentation, seed: UInt64, dropLast: Bool = false) {
        precondition(mean.count == channels && std.count == channels)
        self.split = split; self.channels = channels; self.height = height; self.width = width
        self.batchSize = batchSize; self.shuffle = shuffle; self.augmentation = augmentation; self.seed = seed
        self.dropLast = dropLast
        scale = std.map { 1 / (255 * $0) }
        shift = zip(mean, std).map { -$0 / $1 }
    }

    public var batchesPerEpoch: Int { dropLast ? split.count / batchSize : (split.count + batchSize - 1) / batchSize }

    /// The sample order of epoch `e`.
    public func order(epoch e: Int) -> [Int] {
        guard shuffle else { return Array(0..<split.count) }
        var rng = RandomStream(seed: seed, name: "shuffle/epoch-\(e)")
        return rng.permutation(split.count)
    }

    /// Calls `body(batchIndex, images, labels)` for each batch of epoch `e` (the last may be smaller, unless
    /// `dropLast`: then every batch is full and the remainder of the shuffled order sits the epoch out).
    /// The tensor is reused between batches.
    public func forEachBatch(epoch e: Int, _ body: (Int, Tensor, [Int32]) throws -> Void) rethrows {
        let ord = order(epoch: e)
        var aug = RandomStream(seed: seed, name: "augment/epoch-\(e)")
        let c = channels, h = height, w = width, size = c * h * w, pad = augmentation.cropPadding
        for b in 0..<batchesPerEpoch {
            let idx = ord[(b * batchSize)..<min(ord.count, (b + 1) * batchSize)]
            images.resize([idx.count, c, h, w])
            labels = idx.map { split.labels[$0] }
            let out = images.data
            split.images.withUnsafeBufferPointer { src in
                for (k, i) in idx.enumerated() {
                    let dy = pad > 0 ? aug.below(2 * pad + 1) - pad : 0
                    let dx = pad > 0 ? aug.below(2 * pad + 1) - pad : 0
                    let flip = augmentation.horizontalFlip && aug.below(2) == 1
                    let s = src.baseAddress! + i * size, o = out + k * size
                    for ch in 0..<c {
                        let sc = scale[ch], sh = shift[ch]
                        for y in 0..<h {
                            let sy = y + dy
                            for x in 0..<w {
                                let sx0 = x + dx, sx = flip ? (w - 1 - x) + dx : sx0
                                let inside = sy >= 0 && sy < h && sx >= 0 && sx < w
                                // padding is zero in pixel space, i.e. (0 − mean)/std after normalisation
                                o[(ch * h + y) * w + x] = inside ? Float(s[(ch * h + sy) * w + sx]) * sc + sh : sh
                            }
                        }
                    }
                }
            }
            try body(b, images, labels)
        }
    }
}

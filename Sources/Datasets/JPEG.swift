// JPEG decoding (and encoding, for test fixtures) through libjpeg-turbo; the only file that imports CJPEG.

import CJPEG
import Foundation

public enum JPEG {
    /// Decodes to RGB bytes laid out H×W×3 (grayscale images are expanded to RGB).
    public static func decodeRGB(_ data: Data, name: String, maxPixels: Int = 4096 * 4096) throws -> (pixels: [UInt8], width: Int, height: Int) {
        var w: Int32 = 0, h: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        var out = [UInt8](repeating: 0, count: maxPixels * 3)
        let rc = data.withUnsafeBytes { (src: UnsafeRawBufferPointer) -> Int32 in
            out.withUnsafeMutableBufferPointer { dst in
                bl_jpeg_decode_rgb(src.bindMemory(to: UInt8.self).baseAddress, UInt(src.count), dst.baseAddress, UInt(dst.count), &w, &h, &message)
            }
        }
        guard rc == 0 else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw DatasetError.badFormat(file: name, reason: "JPEG: \(text)")
        }
        return (Array(out.prefix(Int(w) * Int(h) * 3)), Int(w), Int(h))
    }

    /// Encodes H×W×components bytes (components 1 or 3).
    public static func encode(_ pixels: [UInt8], width: Int, height: Int, components: Int, quality: Int = 95) -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        _ = pixels.withUnsafeBufferPointer { bl_jpeg_encode($0.baseAddress, Int32(width), Int32(height), Int32(components), Int32(quality), &out, &size) }
        defer { free(out) }
        return out.map { Data(bytes: $0, count: Int(size)) } ?? Data()
    }
}

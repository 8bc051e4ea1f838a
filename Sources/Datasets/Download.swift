// HTTP(S) and file:// downloads that stream into a temporary file beside the target.
// The caller verifies the temporary file and renames it into place; on any failure it is removed.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class StreamingDownload: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let handle: FileHandle
    private let done = DispatchSemaphore(value: 0)
    private(set) var bytes = 0
    private(set) var failure: String?
    private var status = 200

    init(handle: FileHandle) { self.handle = handle }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode ?? 200
        completionHandler(status == 200 ? .allow : .cancel)
        if status != 200 { failure = "HTTP \(status)" }
    }
    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        do { try handle.write(contentsOf: data); bytes += data.count } catch { failure = "write failed: \(error.localizedDescription)"; dataTask.cancel() }
    }
    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let error, failure == nil { failure = error.localizedDescription }
        done.signal()
    }

    /// Downloads `url` into `tmp` (created), with a time limit; returns an error text or nil.
    static func fetch(_ url: URL, to tmp: String, timeout: TimeInterval = 600) -> String? {
        guard FileManager.default.createFile(atPath: tmp, contents: nil), let h = FileHandle(forWritingAtPath: tmp) else {
            return "cannot create \(tmp)"
        }
        defer { try? h.close() }
        let delegate = StreamingDownload(handle: h)
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = 60; config.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: config, delegate: delegate, delegateQueue: nil)
        defer { session.invalidateAndCancel() }
        var request = URLRequest(url: url); request.setValue("blocklocal", forHTTPHeaderField: "User-Agent")
        session.dataTask(with: request).resume()
        if delegate.done.wait(timeout: .now() + timeout + 5) == .timedOut { return "timed out after \(Int(timeout)) s" }
        return delegate.failure
    }
}

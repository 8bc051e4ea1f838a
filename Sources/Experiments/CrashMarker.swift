// CrashMarker: a run that crashes the process training it (SIGSEGV, SIGBUS, SIGILL, SIGTRAP from a trap,
// SIGABRT, SIGFPE) leaves a marker `runs/.crashed/<id>` holding the signal, written by a signal handler
// with async-signal-safe calls only, before the process dies of that signal as it would have. The next
// attempt at that run finds the marker and stores the run as failed with the signal instead of crashing
// again, so one bad run cannot block its sweep on every retry (`--rerun-failed` tries it again). SIGKILL
// cannot be caught and leaves no marker: a killed sweep resumes the run from its checkpoint, as before.
// The one piece of process-global state is here, at the C edge: the armed marker's path for the handler.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum CrashMarker {
    /// The signals that mean a crash, by name.
    public static let signals: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
                                                  SIGABRT: "SIGABRT", SIGTRAP: "SIGTRAP"]
    /// The armed marker path (strdup'd C string) the handler writes to; nil when no run is training.
    nonisolated(unsafe) static var armed: UnsafeMutablePointer<CChar>? = nil
    nonisolated(unsafe) static var installed = false
    static let lock = NSLock()

    /// Arms the marker at `path` for the run about to train (installs the handlers on first use).
    static func arm(_ path: String) {
        lock.lock(); defer { lock.unlock() }
        if !installed {
            for sig in signals.keys {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = crashHandler
                action.sa_flags = Int32(truncatingIfNeeded: SA_RESETHAND)   // after the marker, the default action: the process dies of it
                sigemptyset(&action.sa_mask)
                sigaction(sig, &action, nil)
            }
            installed = true
        }
        let old = armed
        armed = strdup(path)
        free(old)
    }

    static func disarm() {
        lock.lock(); defer { lock.unlock() }
        let old = armed
        armed = nil
        free(old)
    }

    /// The signal a marker records, and its name ("11 (SIGSEGV)").
    static func describe(markerAt path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard let n = Int32(text) else { return "a crash signal" }
        return "signal \(n) (\(signals[n] ?? "?"))"
    }
}

/// Writes the signal number into the armed marker, then lets the signal take its default course. Only
/// open, write, close and raise: no allocation, no locks.
private func crashHandler(_ sig: Int32) {
    if let path = CrashMarker.armed {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd >= 0 {
            var text: (UInt8, UInt8, UInt8) = (0, 0, 0)   // signal numbers have at most two digits
            let n = Int(sig) % 100
            let count = n >= 10 ? 2 : 1
            withUnsafeMutableBytes(of: &text) { buf in
                if count == 2 { buf[0] = UInt8(48 + n / 10); buf[1] = UInt8(48 + n % 10) } else { buf[0] = UInt8(48 + n) }
                _ = write(fd, buf.baseAddress, count)
            }
            close(fd)
        }
    }
    raise(sig)
}

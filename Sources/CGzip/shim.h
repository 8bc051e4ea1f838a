// C edge for zlib. Only Sources/Datasets/Gzip.swift imports this module (named CGzip: ZIPFoundation has its own CZlib).
#include <zlib.h>
// inflateInit2 is a macro; this getter makes it callable from Swift.
static inline int bl_inflate_init2(z_stream *s, int window_bits) { return inflateInit2(s, window_bits); }

// C edge for libjpeg-turbo. Only Sources/Datasets/JPEG.swift imports this module.
// libjpeg reports errors by calling error_exit, which must not return: these helpers longjmp back
// and return -1 with the library's message, so a damaged JPEG is an error, never an abort.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

struct bl_jpeg_error { struct jpeg_error_mgr mgr; jmp_buf jump; char message[JMSG_LENGTH_MAX]; };

static void bl_jpeg_error_exit(j_common_ptr cinfo) {
    struct bl_jpeg_error *e = (struct bl_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

/// Decodes a JPEG to 8-bit RGB (grayscale is expanded). Writes width*height*3 bytes to `out`
/// when they fit in `capacity`. Returns 0, or -1 with `message` (≥ 200 bytes) set.
static inline int bl_jpeg_decode_rgb(const unsigned char *data, unsigned long size, unsigned char *out,
                                     unsigned long capacity, int *width, int *height, char *message) {
    struct jpeg_decompress_struct cinfo;
    struct bl_jpeg_error err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = bl_jpeg_error_exit;
    if (setjmp(err.jump)) {
        strncpy(message, err.message, 199); message[199] = 0;
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    *width = (int)cinfo.output_width; *height = (int)cinfo.output_height;
    unsigned long stride = (unsigned long)cinfo.output_width * 3;
    if (stride * cinfo.output_height > capacity) {
        strcpy(message, "image larger than the buffer");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *row = out + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

/// Encodes 8-bit RGB (or grayscale when components is 1) to a JPEG in memory; *out is malloc'ed (free it).
static inline int bl_jpeg_encode(const unsigned char *pixels, int width, int height, int components, int quality,
                                 unsigned char **out, unsigned long *size) {
    struct jpeg_compress_struct cinfo;
    struct bl_jpeg_error err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = bl_jpeg_error_exit;
    *out = NULL; *size = 0;
    if (setjmp(err.jump)) { jpeg_destroy_compress(&cinfo); return -1; }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, out, size);
    cinfo.image_width = (JDIMENSION)width; cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components; cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (unsigned long)cinfo.next_scanline * width * components);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return 0;
}

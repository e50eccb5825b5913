/* textin.h - reading text inputs as a byte stream: plain files, or ones
 * compressed with xz (liblzma), gzip (zlib) or zstd (libzstd), recognised by
 * their magic bytes and decoded as they stream, so a corpus never sits in
 * memory.  Concatenated streams, members and frames decode as one, as the
 * tools' -dc does; damaged or cut-short data is an error that names the file
 * and the byte of it where decoding stopped. */
#ifndef WESAR_TEXTIN_H
#define WESAR_TEXTIN_H
#include <stddef.h>

typedef struct textin textin;

textin *textin_open(const char *path, char *err, size_t errlen);
/* up to n bytes of text into buf: their count, 0 at the end, -1 on a read
 * or decoding error (err names the file) */
long textin_read(textin *t, char *buf, size_t n, char *err, size_t errlen);
/* bytes of the file consumed so far (compressed bytes when compressed): progress */
size_t textin_consumed(const textin *t);
/* "plain", "xz", "gzip" or "zstd" */
const char *textin_codec(const textin *t);
void textin_close(textin *t);
#endif

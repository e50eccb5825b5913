/* textin.h - reading text inputs as a byte stream: plain files, or
 * xz-compressed ones (recognised by their magic bytes, decoded by liblzma as
 * they stream, so a 100 MB corpus never sits in memory). */
#ifndef WESAR_TEXTIN_H
#define WESAR_TEXTIN_H
#include <stddef.h>

typedef struct textin textin;

textin *textin_open(const char *path, char *err, size_t errlen);
/* up to n bytes of text into buf: their count, 0 at the end, -1 on a read
 * or decoding error (err names the file) */
long textin_read(textin *t, char *buf, size_t n, char *err, size_t errlen);
/* bytes of the file consumed so far (compressed bytes for xz): progress */
size_t textin_consumed(const textin *t);
int textin_is_xz(const textin *t);
void textin_close(textin *t);
#endif

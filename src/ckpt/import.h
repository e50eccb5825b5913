/* import.h - loading a Hugging Face export back (wesar's own, or any Llama /
 * Arcee checkpoint of the same shape): config.json + model.safetensors into
 * a "plain" model (W_eff = W, no embedding scale), for eval and generate. */
#ifndef WESAR_IMPORT_H
#define WESAR_IMPORT_H
#include "../model/model.h"
#include <stddef.h>

/* A model (allocated for B x T batches, as model_alloc) from DIR/config.json and
 * DIR/model.safetensors (F32 or BF16 tensors); NULL with err naming the file
 * and the field. */
model *import_hf(const char *dir, int B, int T, char *err, size_t errlen);
#endif

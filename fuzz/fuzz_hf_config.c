/* fuzz_hf_config.c — libFuzzer harness: any bytes as a Hugging Face config.json (Llama family and the
 * LayerNorm families it dispatches to by "architectures") and, the same bytes, as an AutoGPTQ
 * quantize_config.json. Each is read into a configuration or refused with a message. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz/fuzz_common.h"
#include "model/model.h"
#include "model/model_internal.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[QB_ERRLEN];
    const char *path = fuzz_file("hfconfig", "config.json", data, size);
    if (!path) return 0;
    ModelConfig c = {0};
    int bias = 0;
    hf_config_parse(path, &c, &bias, err);
    /* quantize_config.json wins over config.json's quantization_config: try both readings */
    GptqFormat g;
    autogptq_format(fuzz_dir("hfconfig"), &g, err);
    if (fuzz_file("hfconfig", "quantize_config.json", data, size)) autogptq_format(fuzz_dir("hfconfig"), &g, err);
    char q[256];
    snprintf(q, sizeof q, "%s/quantize_config.json", fuzz_dir("hfconfig"));
    unlink(q);
    return 0;
}

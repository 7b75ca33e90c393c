#!/bin/sh
# make demo: the main job on the default model (stories260K).
set -e
Q=${1:-bin/qbench}
M=assets/stories260K/stories260K.bin
T=assets/stories260K/tok512.bin
$Q info $M
$Q ppl --model $M --tokenizer $T --data assets/tinystories/tinystories_v1_validation_head.txt --seqlen 256 --mode llamacpp
$Q generate --model $M --tokenizer $T --prompt "Once upon a time" --max-new-tokens 64

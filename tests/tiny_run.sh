#!/usr/bin/env bash
# The tiny preset's default run on tinyshakespeare must end below 2.0 nats/byte
# of validation loss.  usage: tiny_run.sh WESAR WORKDIR DATA
set -eu
W=$1 WORK=$2 DATA=$3
"$W" prepare --tokenizer bytes "$DATA/tinyshakespeare/input.txt" "$WORK/data"
"$W" train --preset tiny --data "$WORK/data" --out "$WORK/run" --log-every 50
val=$(grep val_loss "$WORK/run/log.jsonl" | tail -1 | sed 's/.*"val_loss":\([0-9.]*\).*/\1/')
echo "final val loss: $val nats/byte"
awk -v v="$val" 'BEGIN { exit !(v < 2.0) }'

// tests/llama/logprobs.mjs - llama.cpp (node-llama-cpp's prebuilt CPU binary) as the consumer of
// GGUF files: its tokenization of a text, and each token's log-probability given those before it.
//   node logprobs.mjs TEXT.txt MODEL.gguf...  ->  one JSON line per model:
//   {"model", "bos", "n_ctx", "ids": [...], "logprobs": [...]}
// The text is scored after the BOS token (wesar's document delimiter), in a context one token
// longer than the text, with an F32 KV cache and no flash attention.  A token's probability is
// llama.cpp's softmax at temperature 1 with nothing cut (top-k 0, top-p 1, min-p 0); its log is
// taken in float64 (a JavaScript number).
import {getLlama} from "node-llama-cpp";
import fs from "node:fs";

const [textPath, ...models] = process.argv.slice(2);
const text = fs.readFileSync(textPath, "utf8");
const llama = await getLlama({gpu: false, build: "never", usePrebuiltBinaries: true, logLevel: "error"});
const sampling = {temperature: 1, topK: 0, topP: 1, minP: 0};

async function score(modelPath) {
    const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: false});
    const ids = Array.from(model.tokenize(text, false));
    const n = ids.length + 1;
    const context = await model.createContext({
        contextSize: n, batchSize: n, sequences: 1, flashAttention: false, threads: 2,
        experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
    const input = [model.tokens.bos, ...ids].map((t, i) =>
        i === ids.length ? t : [t, {generateNext: {probabilities: true, options: sampling}}]);
    const out = await context.getSequence().controlledEvaluate(input);
    const logprobs = ids.map((t, i) => {
        const p = out[i]?.next?.probabilities?.get(t);
        return p > 0 ? Math.log(p) : null;
    });
    const line = {model: modelPath, bos: model.tokens.bos, n_ctx: context.contextSize, ids, logprobs};
    await context.dispose();
    await model.dispose();
    return line;
}

for (const m of models) console.log(JSON.stringify(await score(m)));
await llama.dispose();

// llama.cpp's tokenizer speed on a text file: loads MODEL.gguf vocabulary-only and
// tokenizes FILE (user text, no specials) ROUNDS times; prints one JSON line with each
// round's seconds and the token count. Usage: node tokenize_bench.mjs MODEL.gguf FILE ROUNDS
import {getLlama} from "node-llama-cpp";
import fs from "node:fs";

const [modelPath, file, rounds] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath, vocabOnly: true});
const text = fs.readFileSync(file, "utf8");
const seconds = [];
let tokens = 0;
for (let i = 0; i < Number(rounds); ++i) {
  const start = process.hrtime.bigint();
  tokens = model.tokenize(text, false).length;
  seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
}
console.log(JSON.stringify({seconds, tokens}));

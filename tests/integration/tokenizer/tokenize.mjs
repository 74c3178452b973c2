// llama.cpp's tokenizer on a GGUF file, as an oracle (the same protocol as
// ../shared/anchors/llama-cpp/tokenize.mjs): JSON lines {"text", "special"} on stdin, one
// {"ids": [...]} per line on stdout. No BOS is added; "special": true parses control-token
// text. llama.cpp is the prebuilt CPU build in the npm package node-llama-cpp.
import {getLlama} from "node-llama-cpp";
import readline from "node:readline";

const modelPath = process.argv[2];
if (!modelPath) { console.error("usage: node tokenize.mjs MODEL.gguf < lines.jsonl"); process.exit(2); }
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath, vocabOnly: true});
const rl = readline.createInterface({input: process.stdin});
for await (const line of rl) {
  if (!line.trim()) continue;
  const {text, special} = JSON.parse(line);
  console.log(JSON.stringify({ids: Array.from(model.tokenize(text, special === true))}));
}

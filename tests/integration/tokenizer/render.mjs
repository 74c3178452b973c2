// The reference chat rendering: tokenizer_config.json's chat_template rendered by
// @huggingface/jinja (the Jinja engine transformers.js uses), as transformers'
// apply_chat_template calls it: messages, add_generation_prompt, bos_token, eos_token.
// Usage: node render.mjs tokenizer_config.json < conversations.json
//   stdin: a JSON array of conversations (each an array of {role, content});
//   stdout: a JSON array of rendered strings.
import {Template} from "@huggingface/jinja";
import fs from "node:fs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const token = (t) => (t && typeof t === "object" ? t.content : t) ?? "";
const template = new Template(config.chat_template);
const conversations = JSON.parse(fs.readFileSync(0, "utf8"));
console.log(JSON.stringify(conversations.map((messages) => template.render({
  messages,
  add_generation_prompt: true,
  bos_token: token(config.bos_token),
  eos_token: token(config.eos_token),
}))));

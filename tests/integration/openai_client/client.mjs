// Drives tandem-edge with the official OpenAI Node.js client, unchanged: completions and
// chat completions, each without and with streaming, and the model list. Prints one JSON
// object with what the client received; the Python test compares it with the reference.
// Usage: node client.mjs BASE_URL PROMPT MAX_TOKENS
import OpenAI from "openai";

const [baseURL, prompt, maxTokens] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused-on-loopback", maxRetries: 0, timeout: 30000 });
const max_tokens = Number(maxTokens);

const models = await client.models.list();
const model = models.data[0].id;

const completion = await client.completions.create({ model, prompt, max_tokens, temperature: 0 });

let streamedCompletion = "";
let completionChunks = 0;
let completionFinish = null;
for await (const chunk of await client.completions.create({
  model, prompt, max_tokens, temperature: 0, stream: true,
})) {
  completionChunks += 1;
  streamedCompletion += chunk.choices[0]?.text ?? "";
  completionFinish = chunk.choices[0]?.finish_reason ?? completionFinish;
}

const messages = [{ role: "user", content: prompt }];
const chat = await client.chat.completions.create({ model, messages, max_tokens, temperature: 0 });

let streamedChat = "";
let chatChunks = 0;
for await (const chunk of await client.chat.completions.create({
  model, messages, max_tokens, temperature: 0, stream: true,
})) {
  chatChunks += 1;
  streamedChat += chunk.choices[0]?.delta?.content ?? "";
}

let badRequest = null;
try {
  await client.completions.create({ model, prompt, max_tokens, temperature: -1 });
} catch (error) {
  badRequest = { status: error.status, type: error.type ?? error.error?.type ?? null };
}

console.log(JSON.stringify({
  models: models.data.map((m) => m.id),
  completion: completion.choices[0].text,
  completion_finish: completion.choices[0].finish_reason,
  completion_usage: completion.usage,
  streamed_completion: streamedCompletion,
  streamed_completion_chunks: completionChunks,
  streamed_completion_finish: completionFinish,
  chat: chat.choices[0].message.content,
  chat_role: chat.choices[0].message.role,
  streamed_chat: streamedChat,
  streamed_chat_chunks: chatChunks,
  bad_request: badRequest,
}));

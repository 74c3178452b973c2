#include "common/tokenizer/chat_template.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/tokenizer/unicode_text.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

bool Has(std::string_view s, std::string_view part) { return s.find(part) != s.npos; }

// Jinja's trim filter and str.strip() as the reference engine (JavaScript) implements them.
std::string Trim(std::string_view text) {
  std::vector<char32_t> cps;
  DecodeUtf8Lossy(text, cps);
  size_t b = 0, e = cps.size();
  while (b < e && IsJsTrimSpace(cps[b])) ++b;
  while (e > b && IsJsTrimSpace(cps[e - 1])) --e;
  std::string kept;
  for (size_t i = b; i < e; ++i) AppendUtf8(cps[i], kept);
  return kept;
}

std::string_view StripChar(std::string_view s, char c, bool left, bool right) {
  while (left && !s.empty() && s.front() == c) s.remove_prefix(1);
  while (right && !s.empty() && s.back() == c) s.remove_suffix(1);
  return s;
}

// The default system message of a ChatML template: a string literal that opens a system
// turn and carries its text ('<|im_start|>system\nYou are ...<|im_end|>\n').
std::string DefaultSystem(std::string_view source) {
  for (std::string_view quote : {"'", "\""}) {
    const std::string open = absl::StrCat(AbslView(quote), "<|im_start|>system\\n");
    for (size_t at = source.find(open); at != source.npos; at = source.find(open, at + 1)) {
      const size_t begin = at + open.size();
      const size_t end = source.find("<|im_end|>", begin);
      const size_t close = source.find(quote, begin);
      if (end == source.npos || close == begin || (close != source.npos && close < end)) continue;
      return absl::StrReplaceAll(AbslView(source.substr(begin, end - begin)),
                                 {{"\\n", "\n"}, {"\\'", "'"}, {"\\\"", "\""}, {"\\\\", "\\"}});
    }
  }
  return "";
}

// A Llama 3.1 template's default date ({%- set date_string = "26 Jul 2024" %}); templates
// that ask strftime_now get today's date, as the reference engine gives them.
std::string DateString(std::string_view source) {
  constexpr std::string_view kKey = "date_string = \"";
  if (size_t at = source.find(kKey); at != source.npos && !Has(source, "strftime_now")) {
    const size_t begin = at + kKey.size();
    const size_t end = source.find('"', begin);
    if (end != source.npos) return std::string(source.substr(begin, end - begin));
  }
  if (Has(source, "strftime_now")) {
    return absl::FormatTime("%d %b %Y", absl::Now(), absl::LocalTimeZone());
  }
  return "26 Jul 2024";
}

class Renderer {
 public:
  void Template(std::string_view text) {
    if (text.empty()) return;
    if (!out_.empty() && out_.back().from_template) {
      out_.back().text.append(text.data(), text.size());
    } else {
      out_.push_back({std::string(text), true});
    }
  }
  void Content(std::string_view text) {
    if (!text.empty()) out_.push_back({std::string(text), false});
  }
  std::vector<ChatSegment> Take() { return std::move(out_); }

 private:
  std::vector<ChatSegment> out_;
};

std::string_view RoleOf(const ChatMessage& m) {
  return m.role == "developer" ? std::string_view("system") : std::string_view(m.role);
}

}  // namespace

ChatTemplate ChatTemplate::Recognize(std::string_view source, const Tokenizer& tokenizer,
                                     std::string* warning) {
  ChatTemplate t;
  const Vocabulary& v = tokenizer.vocabulary();
  t.bos_text_ = v.pieces[v.bos_id];
  t.eos_text_ = v.pieces[v.eos_id];
  if (Has(source, "<|im_start|>")) {
    t.family_ = ChatFamily::kChatMl;
    t.qwen3_thinking_ = Has(source, "</think>") && Has(source, "last_query_index");
    t.default_system_ = DefaultSystem(source);
  } else if (Has(source, "<|start_header_id|>") && Has(source, "<|end_header_id|>")) {
    t.family_ = ChatFamily::kLlama3;
    t.llama31_header_ = Has(source, "Cutting Knowledge Date");
    if (t.llama31_header_) t.date_string_ = DateString(source);
  } else if (Has(source, "[INST]")) {
    t.family_ = Has(source, "<<SYS>>") ? ChatFamily::kLlama2 : ChatFamily::kMistral;
  } else if (Has(source, "<|assistant|>") && Has(source, "<|end|>")) {
    t.family_ = ChatFamily::kPhi3;
  } else if (Has(source, "<|user|>")) {
    t.family_ = ChatFamily::kZephyr;
  } else if (Has(source, "<start_of_turn>")) {
    t.family_ = ChatFamily::kGemma;
  } else {
    t.fallback_ = true;
    if (warning != nullptr) {
      *warning = source.empty()
                     ? "the model has no chat template (tokenizer.chat_template); chat prompts "
                       "use ChatML"
                     : "the model's chat template is of no known family; chat prompts use ChatML";
    }
  }
  // A turn end the vocabulary does not know as a control token is cut as text.
  if (t.family_ == ChatFamily::kChatMl) {
    const int32_t end = tokenizer.FindToken("<|im_end|>");
    if (end < 0 || !tokenizer.IsControl(end)) t.stops_ = {"<|im_end|>", "<|im_start|>"};
  }
  return t;
}

std::string_view ChatTemplate::name() const {
  switch (family_) {
    case ChatFamily::kChatMl:
      return fallback_ ? "chatml (fallback)" : "chatml";
    case ChatFamily::kLlama3:
      return llama31_header_ ? "llama3.1" : "llama3";
    case ChatFamily::kLlama2:
      return "llama2";
    case ChatFamily::kMistral:
      return "mistral";
    case ChatFamily::kZephyr:
      return "zephyr";
    case ChatFamily::kPhi3:
      return "phi3";
    case ChatFamily::kGemma:
      return "gemma";
  }
  return "";
}

std::vector<ChatSegment> ChatTemplate::Render(absl::Span<const ChatMessage> messages) const {
  Renderer r;
  const size_t n = messages.size();
  const bool has_system = n > 0 && RoleOf(messages[0]) == "system";
  switch (family_) {
    case ChatFamily::kChatMl: {
      if (!has_system && !default_system_.empty()) {
        r.Template(absl::StrCat("<|im_start|>system\n", default_system_, "<|im_end|>\n"));
      }
      // Qwen 3: the last user turn; assistant turns after it keep their reasoning.
      size_t last_query = n == 0 ? 0 : n - 1;
      for (size_t i = n; i-- > 0;) {
        const std::string& c = messages[i].content;
        if (RoleOf(messages[i]) == "user" &&
            !(absl::StartsWith(c, "<tool_response>") && absl::EndsWith(c, "</tool_response>"))) {
          last_query = i;
          break;
        }
      }
      for (size_t i = 0; i < n; ++i) {
        const std::string_view role = RoleOf(messages[i]);
        std::string_view content = messages[i].content;
        r.Template(absl::StrCat("<|im_start|>", AbslView(role), "\n"));
        if (qwen3_thinking_ && role == "assistant") {
          std::string_view reasoning;
          if (size_t end = content.find("</think>"); end != content.npos) {
            std::string_view before = StripChar(content.substr(0, end), '\n', false, true);
            if (size_t open = before.rfind("<think>"); open != before.npos) {
              before = before.substr(open + 7);
            }
            reasoning = StripChar(before, '\n', true, false);
            content = StripChar(content.substr(content.rfind("</think>") + 8), '\n', true, false);
          }
          if (i > last_query && (i + 1 == n || !reasoning.empty())) {
            r.Template("<think>\n");
            r.Content(StripChar(reasoning, '\n', true, true));
            r.Template("\n</think>\n\n");
            content = StripChar(content, '\n', true, false);
          }
        }
        r.Content(content);
        r.Template("<|im_end|>\n");
      }
      r.Template("<|im_start|>assistant\n");
      break;
    }
    case ChatFamily::kLlama3: {
      r.Template(bos_text_);
      size_t first = 0;
      if (llama31_header_) {
        r.Template(absl::StrCat("<|start_header_id|>system<|end_header_id|>\n\n",
                                "Cutting Knowledge Date: December 2023\nToday Date: ", date_string_,
                                "\n\n"));
        if (has_system) {
          r.Content(Trim(messages[0].content));
          first = 1;
        }
        r.Template("<|eot_id|>");
      }
      for (size_t i = first; i < n; ++i) {
        r.Template(absl::StrCat("<|start_header_id|>", AbslView(RoleOf(messages[i])),
                                "<|end_header_id|>\n\n"));
        r.Content(Trim(messages[i].content));
        r.Template("<|eot_id|>");
      }
      r.Template("<|start_header_id|>assistant<|end_header_id|>\n\n");
      break;
    }
    case ChatFamily::kLlama2:
    case ChatFamily::kMistral: {
      const bool llama2 = family_ == ChatFamily::kLlama2;
      const std::string system = has_system ? messages[0].content : "";
      bool first_user = true;
      for (size_t i = has_system ? 1 : 0; i < n; ++i) {
        const std::string_view role = RoleOf(messages[i]);
        if (role == "user") {
          r.Template(absl::StrCat(llama2 || first_user ? bos_text_ : "", "[INST] "));
          if (first_user && has_system) {
            if (llama2) {
              r.Template("<<SYS>>\n");
              r.Content(system);
              r.Template("\n<</SYS>>\n\n");
              r.Content(messages[i].content);
            } else {
              r.Content(Trim(absl::StrCat(system, "\n\n", messages[i].content)));
            }
          } else {
            r.Content(Trim(messages[i].content));
          }
          r.Template(" [/INST]");
          first_user = false;
        } else if (role == "assistant") {
          if (llama2) r.Template(" ");
          r.Content(llama2 ? Trim(messages[i].content) : messages[i].content);
          r.Template(absl::StrCat(llama2 ? " " : "", eos_text_));
        }
      }
      break;
    }
    case ChatFamily::kZephyr:
    case ChatFamily::kPhi3: {
      const std::string end = family_ == ChatFamily::kPhi3 ? "<|end|>" : eos_text_;
      for (const ChatMessage& m : messages) {
        r.Template(absl::StrCat("<|", AbslView(RoleOf(m)), "|>\n"));
        r.Content(m.content);
        r.Template(absl::StrCat(end, "\n"));
      }
      r.Template("<|assistant|>\n");
      break;
    }
    case ChatFamily::kGemma: {
      r.Template(bos_text_);
      std::string system = has_system ? Trim(messages[0].content) : "";
      for (size_t i = has_system ? 1 : 0; i < n; ++i) {
        const std::string_view role = RoleOf(messages[i]);
        r.Template(
            absl::StrCat("<start_of_turn>", AbslView(role == "assistant" ? "model" : role), "\n"));
        if (!system.empty() && role == "user") {
          r.Content(absl::StrCat(system, "\n\n", Trim(messages[i].content)));
          system.clear();
        } else {
          r.Content(Trim(messages[i].content));
        }
        r.Template("<end_of_turn>\n");
      }
      r.Template("<start_of_turn>model\n");
      break;
    }
  }
  return r.Take();
}

std::vector<int32_t> ChatTemplate::Tokenize(absl::Span<const ChatMessage> messages,
                                            const Tokenizer& tokenizer) const {
  std::vector<ChatSegment> rendered = Render(messages);
  // Like llama.cpp's common_chat_templates_apply: a BOS the template writes is dropped when
  // the tokenizer adds one.
  bool add_bos = tokenizer.add_bos();
  if (add_bos && !rendered.empty() && rendered[0].from_template && !bos_text_.empty() &&
      absl::StartsWith(rendered[0].text, bos_text_)) {
    rendered[0].text.erase(0, bos_text_.size());
  }
  std::vector<TextSegment> segments;
  segments.reserve(rendered.size());
  for (const ChatSegment& s : rendered) segments.push_back({s.text, s.from_template});
  return tokenizer.EncodeSegments(segments, add_bos);
}

}  // namespace tandem

#include "adaptor/registrar/mailbox.h"

#include <array>
#include <cstdlib>

namespace sippeer::adaptor {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_hex16(std::string_view s) {
  if (s.size() != 16) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::optional<std::string_view> record_field(std::string_view value, std::string_view name) {
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t end = value.find(';', pos);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view part = value.substr(pos, end - pos);
    if (part.size() > name.size() && part.compare(0, name.size(), name) == 0 && part[name.size()] == '=')
      return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return std::nullopt;
}

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const std::uint32_t n = (std::uint8_t(data[i]) << 16) | (std::uint8_t(data[i + 1]) << 8) | std::uint8_t(data[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < data.size()) {
    std::uint32_t n = std::uint8_t(data[i]) << 16;
    if (i + 1 < data.size()) n |= std::uint8_t(data[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::array<int, 4> v{};
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        ++pad;
        v[k] = 0;
        continue;
      }
      if (pad) return std::nullopt;  // data after padding
      v[k] = b64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const std::uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string encode_stored_message(const StoredMessage& m) {
  return "id=" + m.id + ";t=" + std::to_string(m.stored_at) + ";sender=" + base64_encode(m.sender) +
         ";from=" + base64_encode(m.from) + ";type=" + base64_encode(m.content_type) +
         ";body=" + base64_encode(m.body);
}

std::optional<StoredMessage> decode_stored_message(std::string_view value) {
  const auto id = record_field(value, "id"), t = record_field(value, "t"), sender = record_field(value, "sender"),
             from = record_field(value, "from"), type = record_field(value, "type"),
             body = record_field(value, "body");
  if (!id || !t || !sender || !from || !type || !body || !is_hex16(*id) || t->empty()) return std::nullopt;
  StoredMessage m;
  m.id = std::string(*id);
  for (char c : *t) {
    if (c < '0' || c > '9' || m.stored_at > (INT64_MAX - 9) / 10) return std::nullopt;
    m.stored_at = m.stored_at * 10 + (c - '0');
  }
  auto s = base64_decode(*sender), f = base64_decode(*from), ty = base64_decode(*type), b = base64_decode(*body);
  if (!s || !f || !ty || !b || s->empty() || f->empty()) return std::nullopt;
  m.sender = std::move(*s);
  m.from = std::move(*f);
  m.content_type = std::move(*ty);
  m.body = std::move(*b);
  return m;
}

const char* keep_verdict_text(KeepVerdict v) {
  switch (v) {
    case KeepVerdict::Kept: return "kept";
    case KeepVerdict::MailboxFull: return "mailbox full";
    case KeepVerdict::SenderFull: return "too many messages from this sender";
    case KeepVerdict::TooLarge: return "body too large to keep";
  }
  return "?";
}

std::vector<std::string> fresh_values(const std::vector<std::string>& values, const MailboxLimits& limits,
                                      std::int64_t now_unix) {
  std::vector<std::string> out;
  out.reserve(values.size());
  for (const auto& v : values) {
    const auto m = decode_stored_message(v);
    if (m && now_unix - m->stored_at < limits.max_age_s) out.push_back(v);
  }
  return out;
}

KeepVerdict keep_message(std::vector<std::string>& values, const StoredMessage& m, const MailboxLimits& limits,
                         std::int64_t now_unix) {
  values = fresh_values(values, limits, now_unix);
  if (m.body.size() > limits.max_body) return KeepVerdict::TooLarge;
  if (values.size() >= limits.per_user) return KeepVerdict::MailboxFull;
  std::size_t from_sender = 0;
  for (const auto& v : values)
    if (const auto other = decode_stored_message(v); other && other->sender == m.sender) ++from_sender;
  if (from_sender >= limits.per_sender) return KeepVerdict::SenderFull;
  values.push_back(encode_stored_message(m));
  return KeepVerdict::Kept;
}

bool remove_message(std::vector<std::string>& values, std::string_view id) {
  for (auto it = values.begin(); it != values.end(); ++it) {
    const auto m = decode_stored_message(*it);
    if (m && m->id == id) {
      values.erase(it);
      return true;
    }
  }
  return false;
}

}  // namespace sippeer::adaptor

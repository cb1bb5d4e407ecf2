// The SIP text lexer: characters, trimming, comma-separated header values
// and ;name=value parameters, as RFC 3261's grammar has them. Pure string
// work on string_views, shared by the overlay codec (codec.cpp) and the
// registrar (adaptor/registrar/registrar.cpp). Header-only: the decoder's
// inner loops run over every byte of millions of simulated messages, so
// everything here stays inlinable.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::dht::text {

using std::string_view;
inline constexpr std::size_t npos = string_view::npos;

// string_view::substr without its out_of_range throw, which kept GCC from
// inlining it into the decoder's loops (3 % of the simulator's
// instructions were calls to it). A pos past the end gives an empty view.
inline string_view slice(string_view s, std::size_t pos, std::size_t n = npos) {
  pos = pos < s.size() ? pos : s.size();
  const std::size_t left = s.size() - pos;
  return string_view(s.data() + pos, n < left ? n : left);
}

inline bool is_ws(char c) { return c == ' ' || c == '\t'; }
inline constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline constexpr bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  switch (c) {
    case '-': case '.': case '!': case '%': case '*':
    case '_': case '+': case '`': case '\'': case '~':
      return true;
    default:
      return false;
  }
}

// Byte classes as 256-entry tables: the decoder's inner loops run over
// every byte of millions of simulated messages.
using ByteClass = std::array<bool, 256>;

inline constexpr ByteClass make_class(string_view members, bool controls) {
  ByteClass t{};
  for (int c = 0; c < 256; ++c) t[c] = controls && (c <= 0x20 || c == 0x7f);
  for (char c : members) t[static_cast<unsigned char>(c)] = true;
  return t;
}

// Bytes that may not appear in a URI between its scheme and its end.
inline constexpr ByteClass kNotInUri = make_class("<>\"", true);
// Bytes split_values must look at.
inline constexpr ByteClass kValueSyntax = make_class("\",<>", false);

inline bool in(const ByteClass& cls, char c) { return cls[static_cast<unsigned char>(c)]; }

inline constexpr ByteClass make_token_class() {
  ByteClass t{};
  for (int c = 0; c < 256; ++c) t[c] = is_token_char(static_cast<char>(c));
  return t;
}
// RFC 3261 token characters, for the per-byte check of every header name.
inline constexpr ByteClass kToken = make_token_class();

inline bool is_token(string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return in(kToken, c); });
}

inline string_view ltrim(string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  return s;
}
inline string_view rtrim(string_view s) {
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}
inline string_view trim(string_view s) { return rtrim(ltrim(s)); }

inline string_view strip_cr(string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// ASCII case-insensitive. Bytes that differ only in bit 0x20 are the same
// letter in two cases when they are letters; the common case, the same
// byte, costs one compare (every header name passes through here).
inline bool iequals(string_view a, string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]);
    const unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    const unsigned char lower = x | 0x20;
    if ((x ^ y) != 0x20 || lower < 'a' || lower > 'z') return false;
  }
  return true;
}

inline bool istarts_with(string_view s, string_view prefix) {
  return s.size() >= prefix.size() && iequals(slice(s, 0, prefix.size()), prefix);
}

inline bool icontains(string_view hay, string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(slice(hay, i, needle.size()), needle)) return true;
  return false;
}

inline void append_lower(std::string& out, string_view s) {
  for (char c : s) out += to_lower(c);
}

// Unsigned decimal, surrounding LWS allowed; nullopt on anything else or
// when the value exceeds `max`.
inline std::optional<std::uint64_t> parse_uint(string_view s,
                                        std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// Index just past the quoted string starting at s[pos] == '"', or npos when
// it is never closed.
inline std::size_t skip_quoted(string_view s, std::size_t pos) {
  for (std::size_t i = pos + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return npos;
}

// One header line may carry several values ("Contact: <a>, <b>"). A comma
// inside a quoted string (predecessor="<...>") or inside <...> is part of a
// value, not a separator.
inline void split_values(string_view v, std::vector<string_view>& out) {
  // Without a comma there is nothing to split, whatever the quotes and
  // brackets say; and one value per line is how every node writes its
  // Contacts and Vias (a memchr instead of a table lookup per byte: the
  // simulator spent 7 % of its instructions in the loop below).
  if (v.find(',') == npos) {
    string_view piece = trim(v);
    if (!piece.empty()) out.push_back(piece);
    return;
  }
  std::size_t start = 0;
  bool in_angle = false;
  auto push = [&](std::size_t end) {
    string_view piece = trim(slice(v, start, end - start));
    if (!piece.empty()) out.push_back(piece);
  };
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (!in(kValueSyntax, c)) continue;
    if (c == '"') {
      std::size_t end = skip_quoted(v, i);
      if (end == npos) break;  // the rest is one (malformed) value
      i = end - 1;
    } else if (c == '<') {
      in_angle = true;
    } else if (c == '>') {
      in_angle = false;
    } else if (c == ',' && !in_angle) {
      push(i);
      start = i + 1;
    }
  }
  push(v.size());
}


// Walks a ";name[=value]" list with LWS anywhere between the parts, as the
// report writes them ("; q=1; predecessor=..."). Quoted values come back
// without their quotes.
class ParamCursor {
 public:
  explicit ParamCursor(string_view params) : rest_(params) {}

  bool next(string_view& name, string_view& value) {
    rest_ = ltrim(rest_);
    if (rest_.empty()) return false;
    if (rest_.front() != ';') return fail();
    rest_ = ltrim(slice(rest_, 1));
    std::size_t i = 0;
    while (i < rest_.size() && rest_[i] != '=' && rest_[i] != ';' && !is_ws(rest_[i])) ++i;
    name = slice(rest_, 0, i);
    rest_ = ltrim(slice(rest_, i));
    value = {};
    if (rest_.empty() || rest_.front() != '=') return true;
    rest_ = ltrim(slice(rest_, 1));
    if (!rest_.empty() && rest_.front() == '"') {
      std::size_t end = skip_quoted(rest_, 0);
      if (end == npos) return fail();
      value = slice(rest_, 1, end - 2);
      rest_ = slice(rest_, end);
    } else {
      std::size_t end = std::min(rest_.find(';'), rest_.size());
      value = rtrim(slice(rest_, 0, end));
      rest_ = slice(rest_, end);
    }
    return true;
  }

  bool bad() const { return bad_; }

 private:
  bool fail() {
    bad_ = true;
    rest_ = {};
    return false;
  }

  string_view rest_;
  bool bad_ = false;
};

// The value of the first parameter called `name`, if any.
inline std::optional<string_view> find_param(string_view params, string_view name) {
  ParamCursor cur(params);
  string_view n, v;
  while (cur.next(n, v))
    if (iequals(n, name)) return v;
  return std::nullopt;
}

}  // namespace sippeer::dht::text

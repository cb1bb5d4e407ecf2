// A node's transport address ("host:port"), held inline.
//
// Why not std::string: a NodeRef is copied, compared and decoded all the
// time (16 successors in every stabilization answer, fingers, the request
// table), and "10.1.134.160:5060" is past std::string's 15 inline bytes,
// so each copy was a heap allocation, each compare a read of a cold heap
// block and each drop a free. Keeping the text inside the object makes a
// copy one 48-byte move. Measured before writing this (issue 15): the
// 30,000-node simulator ran 100 and 108 s with 17-byte addresses against
// 86 and 81 s with addresses shortened to fit std::string's inline bytes.
//
// Up to kInline bytes are kept inline; longer ones (a host name) go on
// the heap, so no address is refused.
// The text is always NUL-terminated, for c_str().
#pragma once

#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace sippeer::dht {

class Address {
 public:
  // 43 bytes and the NUL, with the size: 48 bytes. Any IPv4 "host:port"
  // fits, and IPv6 ones up to "[2001:db8:85a3::8a2e:370:7334]:5060" and
  // beyond (the longest possible, 47 bytes, goes on the heap).
  static constexpr std::size_t kInline = 43;

  Address() noexcept { inline_[0] = '\0'; }
  Address(std::string_view s) { assign_new(s); }  // NOLINT: implicit, like std::string's
  Address(const std::string& s) : Address(std::string_view(s)) {}  // NOLINT
  Address(const char* s) : Address(std::string_view(s)) {}         // NOLINT
  Address(const Address& o) {
    if (o.on_heap()) {
      assign_new(o.view());
    } else {
      copy_inline(o);
    }
  }
  Address(Address&& o) noexcept { take(o); }
  ~Address() { release(); }

  Address& operator=(const Address& o) {
    if (this == &o) return *this;
    if (!on_heap() && !o.on_heap()) {
      copy_inline(o);
    } else {
      assign(o.view());
    }
    return *this;
  }
  Address& operator=(Address&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  Address& operator=(std::string_view s) {
    assign(s);
    return *this;
  }
  Address& operator=(const std::string& s) { return *this = std::string_view(s); }
  Address& operator=(const char* s) { return *this = std::string_view(s); }

  std::string_view view() const noexcept { return {data(), size_}; }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit
  std::string str() const { return std::string(view()); }
  const char* data() const noexcept { return on_heap() ? heap() : inline_; }
  const char* c_str() const noexcept { return data(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  friend bool operator==(const Address& a, const Address& b) noexcept { return a.view() == b.view(); }
  friend bool operator==(const Address& a, std::string_view b) noexcept { return a.view() == b; }
  friend bool operator==(const Address& a, const std::string& b) noexcept { return a.view() == b; }
  friend bool operator==(const Address& a, const char* b) noexcept { return a.view() == b; }
  friend std::strong_ordering operator<=>(const Address& a, const Address& b) noexcept {
    return a.view() <=> b.view();
  }
  friend std::ostream& operator<<(std::ostream& os, const Address& a) { return os << a.view(); }
  friend std::string operator+(const std::string& s, const Address& a) { return s + a.str(); }
  friend std::string operator+(const Address& a, const std::string& s) { return a.str() + s; }
  friend std::string operator+(const char* s, const Address& a) { return s + a.str(); }
  friend std::string operator+(const Address& a, const char* s) { return a.str() + s; }

 private:
  bool on_heap() const noexcept { return size_ > kInline; }
  // Into a fresh object (nothing to release).
  void assign_new(std::string_view s) {
    const std::size_t n = s.size();
    size_ = static_cast<std::uint32_t>(n);
    if (n > kInline) {
      char* p = new char[n + 1];
      std::memcpy(p, s.data(), n);
      p[n] = '\0';
      set_heap(p);
    } else {
      if (n != 0) std::memcpy(inline_, s.data(), n);
      inline_[n] = '\0';
    }
  }
  void assign(std::string_view s) {
    // s may point into our own text: copy before releasing it.
    const std::size_t n = s.size();
    if (n <= kInline && !on_heap()) {
      if (n != 0) std::memmove(inline_, s.data(), n);
      inline_[n] = '\0';
      size_ = static_cast<std::uint32_t>(n);
      return;
    }
    Address copy(s);
    release();
    take(copy);
  }
  // A fixed-size copy (one or two vector moves) rather than one of size_.
  void copy_inline(const Address& o) noexcept {
    std::memcpy(inline_, o.inline_, sizeof inline_);
    size_ = o.size_;
  }
  void take(Address& o) noexcept {
    copy_inline(o);  // the text, or the heap pointer
    o.size_ = 0;
    o.inline_[0] = '\0';
  }
  void release() noexcept {
    if (on_heap()) delete[] heap();
  }
  // Past kInline, inline_ holds the heap text's pointer instead: copied in
  // and out, since a pointer member would align the object to 8 bytes
  // and make it 56.
  char* heap() const noexcept {
    char* p;
    std::memcpy(&p, inline_, sizeof p);
    return p;
  }
  void set_heap(char* p) noexcept { std::memcpy(inline_, &p, sizeof p); }

  char inline_[kInline + 1];  // the text and its NUL (or the heap pointer)
  std::uint32_t size_ = 0;
};

}  // namespace sippeer::dht

template <>
struct std::hash<sippeer::dht::Address> {
  std::size_t operator()(const sippeer::dht::Address& a) const noexcept {
    return std::hash<std::string_view>{}(a.view());
  }
};

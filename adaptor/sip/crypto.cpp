// The low-level SHA-256 calls below are deprecated in OpenSSL 3; see
// HmacSha256::State for why they are used.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "adaptor/sip/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace sippeer::adaptor {

std::string hex_of(const unsigned char* b, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = d[b[i] >> 4];
    s[2 * i + 1] = d[b[i] & 15];
  }
  return s;
}

std::string sha256_hex(std::string_view text, std::size_t bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  bytes = std::min<std::size_t>(bytes, 32);
  if (EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr) != 1 || n < bytes)
    return std::string(2 * bytes, '0');
  return hex_of(md, bytes);
}

// HMAC (RFC 2104) over OpenSSL's SHA-256 block function, with the key's
// inner and outer blocks hashed once, here. Each MAC then copies a
// 112-byte state twice and hashes two blocks. The EVP_MAC interface redid
// that per message with a provider context duplicated (allocated) twice:
// ~6,500 instructions a MAC against ~2,500 (callgrind, a 30-byte nonce).
// SHA256_Init & co. are deprecated in OpenSSL 3 in favour of EVP, but kept
// (Debian builds them); the unit tests check this HMAC against RFC 4231's
// vectors and against OpenSSL's own HMAC().
struct HmacSha256::State {
  SHA256_CTX inner{};
  SHA256_CTX outer{};
};

HmacSha256::HmacSha256(const std::string& key) : s_(std::make_unique<State>()) {
  unsigned char block[SHA256_CBLOCK] = {};
  if (key.size() > sizeof block) {
    SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), block);
  } else {
    std::memcpy(block, key.data(), key.size());
  }
  unsigned char pad[SHA256_CBLOCK];
  for (std::size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ 0x36;
  SHA256_Init(&s_->inner);
  SHA256_Update(&s_->inner, pad, sizeof pad);
  for (std::size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ 0x5c;
  SHA256_Init(&s_->outer);
  SHA256_Update(&s_->outer, pad, sizeof pad);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(pad, sizeof pad);
}

HmacSha256::~HmacSha256() { OPENSSL_cleanse(s_.get(), sizeof *s_); }

std::string HmacSha256::hex(std::string_view data, std::size_t bytes) {
  unsigned char inner_hash[SHA256_DIGEST_LENGTH];
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256_CTX c = s_->inner;
  SHA256_Update(&c, data.data(), data.size());
  SHA256_Final(inner_hash, &c);
  c = s_->outer;
  SHA256_Update(&c, inner_hash, sizeof inner_hash);
  SHA256_Final(out, &c);
  OPENSSL_cleanse(&c, sizeof c);
  return hex_of(out, std::min<std::size_t>(bytes, sizeof out));
}

}  // namespace sippeer::adaptor

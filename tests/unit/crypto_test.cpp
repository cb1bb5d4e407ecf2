// HmacSha256 (adaptor/sip/crypto.h) computes HMAC-SHA256 itself over
// OpenSSL's SHA-256 block function, with the key's pads hashed once; the
// digest nonces and the overlay's P2P-Auth signatures rest on it. Checked
// against RFC 4231's test vectors and against OpenSSL's own HMAC() for
// keys and messages of every length around the block size.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "adaptor/sip/crypto.h"

namespace sippeer::adaptor {
namespace {

std::string openssl_hmac(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &len);
  return hex_of(md, len);
}

TEST(HmacSha256, Rfc4231TestVectors) {
  struct Case {
    std::string key, data, mac;
  };
  const Case cases[] = {
      // 4.2: test case 1
      {std::string(20, '\x0b'), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      // 4.3: test case 2, a key shorter than the output
      {"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      // 4.4: test case 3
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      // 4.7: test case 6, a key longer than the block (hashed first)
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
  };
  for (const Case& c : cases) {
    HmacSha256 mac(c.key);
    EXPECT_EQ(mac.hex(c.data), c.mac) << c.data;
    EXPECT_EQ(mac.hex(c.data), c.mac) << "a second MAC under the same key differs";
  }
  // 4.6: test case 5, truncated to 128 bits
  HmacSha256 mac(std::string(20, '\x0c'));
  EXPECT_EQ(mac.hex("Test With Truncation", 16), "a3b6167473100ee06e0c796c2955552b");
}

TEST(HmacSha256, AgreesWithOpenSslForEveryLengthAroundTheBlock) {
  for (std::size_t key_len : {0, 1, 31, 32, 63, 64, 65, 128, 200}) {
    std::string key;
    for (std::size_t i = 0; i < key_len; ++i) key += static_cast<char>(i * 7 + 1);
    HmacSha256 mac(key);
    for (std::size_t data_len = 0; data_len <= 200; ++data_len) {
      std::string data;
      for (std::size_t i = 0; i < data_len; ++i) data += static_cast<char>(i * 13 + key_len);
      ASSERT_EQ(mac.hex(data), openssl_hmac(key, data)) << "key " << key_len << " bytes, data " << data_len;
    }
  }
}

}  // namespace
}  // namespace sippeer::adaptor

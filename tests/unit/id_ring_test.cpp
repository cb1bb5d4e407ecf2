// Ids and ring arithmetic: every routing decision rests on these interval
// tests, so the wrap-around and a == b edge cases are pinned down here at
// the seed's m = 5 and at production's m = 160.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "dht/id.h"
#include "dht/ring.h"

namespace sippeer::dht {
namespace {

Id hex(const std::string& h) {
  auto id = Id::from_hex(h);
  EXPECT_TRUE(id) << h;
  return id.value_or(Id{});
}

Id u(std::uint64_t v) { return Id::from_u64(v); }

const std::string kAllOnes(40, 'f');

// ------------------------------------------------------------------- Id

TEST(Id, HexRoundTrips) {
  EXPECT_EQ(hex("a9993e364706816aba3e25717850c26c9cd0d89d").to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex("000abc").to_hex(), "abc");
  EXPECT_EQ(hex("ABCdef").to_hex(), "abcdef");
  EXPECT_EQ(hex("0").to_hex(), "0");
  EXPECT_EQ(Id{}.to_hex(), "0");
  EXPECT_EQ(hex(kAllOnes).to_hex(), kAllOnes);
  EXPECT_EQ(hex("100000000").to_hex(), "100000000");
}

TEST(Id, HexPadsToMinDigits) {
  EXPECT_EQ(u(16).to_hex(4), "0010");
  EXPECT_EQ(Id{}.to_hex(3), "000");
  EXPECT_EQ(u(0xabcde).to_hex(2), "abcde");
  EXPECT_EQ(u(1).to_hex(40), std::string(39, '0') + "1");
  EXPECT_EQ(hex(kAllOnes).to_hex(40), kAllOnes);
}

TEST(Id, HexRejectsBadInput) {
  EXPECT_FALSE(Id::from_hex(""));
  EXPECT_FALSE(Id::from_hex(std::string(41, '1')));
  EXPECT_FALSE(Id::from_hex("xyz"));
  EXPECT_FALSE(Id::from_hex("0x12"));
  EXPECT_FALSE(Id::from_hex("12 "));
}

// from_hex reads eight digits at a time with bit tricks; every byte value
// in every position of a full-width id, and in a short one, must be taken
// or refused exactly as a digit-by-digit reading would.
std::optional<std::uint64_t> digit_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return std::nullopt;
}

TEST(Id, HexAcceptsExactlyTheHexDigitsInEveryPosition) {
  const std::string base = "0123456789abcdefABCDEF0123456789abcdefAB";
  for (std::size_t length : {std::size_t{40}, std::size_t{8}, std::size_t{13}}) {
    for (std::size_t pos = 0; pos < length; ++pos) {
      for (int c = 0; c < 256; ++c) {
        std::string h = base.substr(0, length);
        h[pos] = static_cast<char>(c);
        auto id = Id::from_hex(h);
        auto v = digit_value(static_cast<unsigned char>(c));
        ASSERT_EQ(id.has_value(), v.has_value()) << "byte " << c << " at " << pos << " of " << length;
        if (!v) continue;
        // The digit lands in its own nibble: compare with the digit-wise value.
        std::string expect;
        for (char d : h) expect += "0123456789abcdef"[*digit_value(static_cast<unsigned char>(d))];
        std::size_t nonzero = expect.find_first_not_of('0');
        expect = nonzero == std::string::npos ? "0" : expect.substr(nonzero);
        ASSERT_EQ(id->to_hex(), expect) << h;
      }
    }
  }
}

TEST(Id, DecimalRoundTrips) {
  EXPECT_EQ(Id::from_decimal("0")->to_decimal(), "0");
  EXPECT_EQ(Id::from_decimal("31")->to_decimal(), "31");
  EXPECT_EQ(Id::from_decimal("4294967296")->to_hex(), "100000000");
  EXPECT_EQ(Id::from_decimal("18446744073709551615")->to_decimal(), "18446744073709551615");
  EXPECT_EQ(*Id::from_decimal("18446744073709551615"), hex("ffffffffffffffff"));
  EXPECT_EQ(u(12345).to_decimal(), "12345");
}

TEST(Id, DecimalRejectsBadInput) {
  EXPECT_FALSE(Id::from_decimal(""));
  EXPECT_FALSE(Id::from_decimal("18446744073709551616"));  // 2^64
  EXPECT_FALSE(Id::from_decimal("12a"));
  EXPECT_FALSE(Id::from_decimal("-1"));
  EXPECT_FALSE(Id::from_decimal(std::string(21, '0')));
}

TEST(Id, FitsU64AndLow64) {
  EXPECT_TRUE(hex("ffffffffffffffff").fits_u64());
  EXPECT_FALSE(hex("10000000000000000").fits_u64());
  EXPECT_EQ(hex("123456789abcdef0").low64(), 0x123456789abcdef0ull);
  EXPECT_EQ(hex("ff123456789abcdef0").low64(), 0x123456789abcdef0ull);
}

TEST(Id, AdditionCarriesAcrossLimbs) {
  EXPECT_EQ(u(0xffffffffull) + u(1), hex("100000000"));
  EXPECT_EQ(hex("ffffffffffffffff") + u(1), hex("10000000000000000"));
  EXPECT_EQ(hex("ffffffffffffffffffffffff") + u(1), hex("1000000000000000000000000"));
  EXPECT_EQ(hex(kAllOnes) + u(1), Id{});  // modulo 2^160
  EXPECT_EQ(hex(kAllOnes) + hex(kAllOnes), hex(std::string(39, 'f') + "e"));
  EXPECT_EQ(u(2) + u(3), u(5));
}

TEST(Id, SubtractionBorrowsAcrossLimbs) {
  EXPECT_EQ(hex("100000000") - u(1), u(0xffffffffull));
  EXPECT_EQ(hex("10000000000000000") - u(1), hex("ffffffffffffffff"));
  EXPECT_EQ(Id{} - u(1), hex(kAllOnes));  // modulo 2^160
  EXPECT_EQ(Id::pow2(128) - u(1), hex(std::string(32, 'f')));
  EXPECT_EQ(u(5) - u(3), u(2));
  Id a = hex("123456789abcdef0123456789abcdef012345678");
  Id b = hex("fedcba9876543210fedcba9876543210fedcba98");
  EXPECT_EQ((a - b) + b, a);
  EXPECT_EQ((a + b) - b, a);
}

TEST(Id, Masked) {
  Id ones = hex(kAllOnes);
  EXPECT_EQ(ones.masked(5), u(31));
  EXPECT_EQ(ones.masked(32), u(0xffffffffull));
  EXPECT_EQ(ones.masked(33), hex("1ffffffff"));
  EXPECT_EQ(ones.masked(64), hex("ffffffffffffffff"));
  EXPECT_EQ(ones.masked(159), hex("7" + std::string(39, 'f')));
  EXPECT_EQ(ones.masked(160), ones);
  EXPECT_EQ(u(37).masked(5), u(5));
}

TEST(Id, Pow2AndBits) {
  EXPECT_EQ(Id::pow2(0), u(1));
  EXPECT_EQ(Id::pow2(31), u(0x80000000ull));
  EXPECT_EQ(Id::pow2(32), hex("100000000"));
  EXPECT_EQ(Id::pow2(159), hex("8" + std::string(39, '0')));
  EXPECT_TRUE(Id::pow2(100).bit(100));
  EXPECT_FALSE(Id::pow2(100).bit(99));
  EXPECT_FALSE(Id::pow2(100).bit(101));
  EXPECT_TRUE(Id::pow2(159).bit(159));
  EXPECT_TRUE(Id{}.is_zero());
  EXPECT_FALSE(Id::pow2(159).is_zero());
}

TEST(Id, OrderingIsNumeric) {
  EXPECT_LT(u(0xffffffffffffffffull), Id::pow2(64));
  EXPECT_LT(u(1), u(2));
  EXPECT_LT(Id::pow2(64), Id::pow2(159));
  EXPECT_EQ(u(7), *Id::from_decimal("7"));
  EXPECT_EQ(u(7).hash(), Id::from_decimal("7")->hash());
}

// ----------------------------------------------------------------- Ring

TEST(Ring, ArithmeticWrapsAtM) {
  Ring r(5);
  EXPECT_EQ(r.bits(), 5);
  EXPECT_EQ(r.add(u(30), u(5)), u(3));
  EXPECT_EQ(r.sub(u(3), u(5)), u(30));
  EXPECT_EQ(r.distance(u(30), u(3)), u(5));
  EXPECT_EQ(r.distance(u(3), u(30)), u(27));
  EXPECT_TRUE(r.valid(u(31)));
  EXPECT_FALSE(r.valid(u(32)));
  Ring big(160);
  EXPECT_EQ(big.add(hex(kAllOnes), u(2)), u(1));
  EXPECT_EQ(big.sub(u(1), u(2)), hex(kAllOnes));
}

TEST(Ring, OpenClosedIntervalAtM5) {
  Ring r(5);
  // (10, 22]
  EXPECT_FALSE(r.in_open_closed(u(10), u(10), u(22)));
  EXPECT_TRUE(r.in_open_closed(u(11), u(10), u(22)));
  EXPECT_TRUE(r.in_open_closed(u(22), u(10), u(22)));
  EXPECT_FALSE(r.in_open_closed(u(23), u(10), u(22)));
  EXPECT_FALSE(r.in_open_closed(u(1), u(10), u(22)));
  // (22, 1] wraps through 0
  EXPECT_TRUE(r.in_open_closed(u(30), u(22), u(1)));
  EXPECT_TRUE(r.in_open_closed(u(31), u(22), u(1)));
  EXPECT_TRUE(r.in_open_closed(u(0), u(22), u(1)));
  EXPECT_TRUE(r.in_open_closed(u(1), u(22), u(1)));
  EXPECT_FALSE(r.in_open_closed(u(22), u(22), u(1)));
  EXPECT_FALSE(r.in_open_closed(u(2), u(22), u(1)));
  EXPECT_FALSE(r.in_open_closed(u(10), u(22), u(1)));
  // (7, 7] is the whole ring: a node that is its own successor owns all.
  for (std::uint64_t x = 0; x < 32; ++x) EXPECT_TRUE(r.in_open_closed(u(x), u(7), u(7))) << x;
}

TEST(Ring, OpenIntervalAtM5) {
  Ring r(5);
  EXPECT_TRUE(r.in_open(u(15), u(10), u(22)));
  EXPECT_FALSE(r.in_open(u(22), u(10), u(22)));
  EXPECT_FALSE(r.in_open(u(10), u(10), u(22)));
  EXPECT_TRUE(r.in_open(u(0), u(22), u(1)));
  EXPECT_TRUE(r.in_open(u(31), u(22), u(1)));
  EXPECT_FALSE(r.in_open(u(1), u(22), u(1)));
  EXPECT_FALSE(r.in_open(u(22), u(22), u(1)));
  // (7, 7) is everything but 7.
  for (std::uint64_t x = 0; x < 32; ++x) EXPECT_EQ(r.in_open(u(x), u(7), u(7)), x != 7) << x;
  // Adjacent ends: (7, 8) is empty, (7, 8] is just 8.
  for (std::uint64_t x = 0; x < 32; ++x) {
    EXPECT_FALSE(r.in_open(u(x), u(7), u(8))) << x;
    EXPECT_EQ(r.in_open_closed(u(x), u(7), u(8)), x == 8) << x;
  }
}

TEST(Ring, IntervalsAtM160) {
  Ring r(160);
  Id max = hex(kAllOnes);
  Id a = max - u(1);
  EXPECT_TRUE(r.in_open_closed(max, a, u(5)));
  EXPECT_TRUE(r.in_open_closed(Id{}, a, u(5)));
  EXPECT_TRUE(r.in_open_closed(u(5), a, u(5)));
  EXPECT_FALSE(r.in_open_closed(u(6), a, u(5)));
  EXPECT_FALSE(r.in_open_closed(a, a, u(5)));
  EXPECT_TRUE(r.in_open(Id{}, a, u(5)));
  EXPECT_FALSE(r.in_open(u(5), a, u(5)));
  EXPECT_TRUE(r.in_open_closed(Id::pow2(100), Id::pow2(99), Id::pow2(100)));
  EXPECT_FALSE(r.in_open(Id::pow2(100), Id::pow2(99), Id::pow2(100)));
  EXPECT_TRUE(r.in_open_closed(u(123), Id::pow2(150), Id::pow2(150)));
  EXPECT_TRUE(r.in_open_closed(Id::pow2(150), Id::pow2(150), Id::pow2(150)));
  EXPECT_FALSE(r.in_open(Id::pow2(150), Id::pow2(150), Id::pow2(150)));
  EXPECT_TRUE(r.in_open(max, Id::pow2(150), Id::pow2(150)));
}

TEST(Ring, FingerStart) {
  Ring r(5);
  EXPECT_EQ(r.finger_start(u(7), 1), u(8));
  EXPECT_EQ(r.finger_start(u(7), 3), u(11));
  EXPECT_EQ(r.finger_start(u(7), 5), u(23));
  EXPECT_EQ(r.finger_start(u(22), 5), u(6));
  EXPECT_EQ(r.finger_start(u(31), 1), u(0));
  Ring big(160);
  EXPECT_EQ(big.finger_start(hex(kAllOnes), 1), Id{});
  EXPECT_EQ(big.finger_start(Id{}, 160), Id::pow2(159));
  EXPECT_EQ(big.finger_start(Id::pow2(159), 160), Id{});
}

TEST(Ring, HashIsSha1ReducedToM) {
  Ring big(160);
  EXPECT_EQ(big.hash("abc").to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(big.hash("abc"), big.hash("abc"));
  EXPECT_NE(big.hash("abc"), big.hash("abd"));
  EXPECT_EQ(big.hash("").to_hex(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  // The low m bits of the digest.
  EXPECT_EQ(Ring(64).hash("abc"), hex("7850c26c9cd0d89d"));
  EXPECT_EQ(Ring(5).hash("abc"), u(0x9d & 31));
  EXPECT_TRUE(Ring(5).valid(Ring(5).hash("sip:alice@example.com")));
}

TEST(Ring, FormatAndParse) {
  Ring small(5);
  EXPECT_EQ(small.format(u(7)), "7");
  EXPECT_EQ(small.parse("7"), u(7));
  EXPECT_EQ(small.parse("31"), u(31));
  EXPECT_FALSE(small.parse("32"));
  EXPECT_FALSE(small.parse("a"));
  EXPECT_FALSE(small.parse(""));
  Ring m64(64);
  EXPECT_EQ(m64.format(hex("ffffffffffffffff")), "18446744073709551615");
  EXPECT_EQ(m64.parse("18446744073709551615"), hex("ffffffffffffffff"));
  Ring m65(65);
  EXPECT_EQ(m65.format(Id::pow2(64)), "10000000000000000");
  EXPECT_EQ(m65.parse("10000000000000000"), Id::pow2(64));
  EXPECT_FALSE(m65.parse("20000000000000000"));
  Ring big(160);
  // Fixed width above 64 bits, so that ids sort as text as on the ring.
  EXPECT_EQ(big.format(u(1)), std::string(39, '0') + "1");
  EXPECT_EQ(big.parse(std::string(39, '0') + "1"), u(1));
  EXPECT_EQ(Ring(100).format(u(255)), std::string(23, '0') + "ff");
  EXPECT_EQ(big.hex(u(1)), big.format(u(1)));
  Id h = big.hash("node");
  EXPECT_EQ(big.parse(big.format(h)), h);
  EXPECT_EQ(big.format(Id::pow2(159)), "8" + std::string(39, '0'));
  EXPECT_EQ(big.parse("ABC"), hex("abc"));
  EXPECT_FALSE(big.parse(std::string(41, '1')));
  EXPECT_FALSE(big.parse("xyz"));
  Ring m100(100);
  EXPECT_FALSE(m100.parse(Id::pow2(120).to_hex()));
  EXPECT_EQ(m100.parse(Id::pow2(99).to_hex()), Id::pow2(99));
}

}  // namespace
}  // namespace sippeer::dht

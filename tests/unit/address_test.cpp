// dht::Address: a node's "host:port", inline up to kInline bytes, on the
// heap past that (dht/address.h).
#include "dht/address.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sippeer::dht {
namespace {

const std::string kShort = "10.1.134.160:5060";
const std::string kLongest = std::string(Address::kInline, 'a');               // still inline
const std::string kHeap = "registrar-" + std::string(200, 'x') + ".example.org:5061";  // a host name

TEST(Address, KeepsItsTextWhateverItsLength) {
  for (const std::string& s : {std::string(), kShort, kLongest, kLongest + "b", kHeap}) {
    const Address a(s);
    EXPECT_EQ(a.view(), s);
    EXPECT_EQ(a.size(), s.size());
    EXPECT_EQ(a.empty(), s.empty());
    EXPECT_EQ(std::strlen(a.c_str()), s.size()) << "NUL-terminated";
    EXPECT_EQ(a.str(), s);
  }
  EXPECT_TRUE(Address().empty());
  EXPECT_EQ(sizeof(Address), 48u) << "a NodeRef copy should stay one small move";
}

TEST(Address, CopiesAndMovesBetweenInlineAndHeap) {
  const std::vector<std::string> texts = {"", kShort, kLongest, kHeap, kHeap + "9", kShort};
  for (const std::string& from : texts) {
    for (const std::string& to : texts) {
      Address a(from);
      Address b(to);
      b = a;  // copy-assign over whatever b held
      EXPECT_EQ(b, from);
      EXPECT_EQ(a, from) << "the source of a copy is unchanged";
      Address c(to);
      c = std::move(a);
      EXPECT_EQ(c, from);
      EXPECT_TRUE(a.empty()) << "a moved-from address is empty";  // NOLINT(bugprone-use-after-move)
      Address d(std::move(c));
      EXPECT_EQ(d, from);
      d = to;  // from a std::string
      EXPECT_EQ(d, to);
    }
  }
}

TEST(Address, AssigningFromItsOwnTextIsSafe) {
  for (const std::string& s : {kShort, kHeap}) {
    Address a(s);
    a = a;  // NOLINT(misc-redundant-expression): self-assignment
    EXPECT_EQ(a, s);
    a = a.view().substr(3);  // a view into its own text
    EXPECT_EQ(a, s.substr(3));
    Address b(s);
    b = std::move(b);  // NOLINT: self-move leaves it as it was
    EXPECT_EQ(b, s);
  }
}

TEST(Address, ComparesAndHashesAsItsText) {
  const Address a("10.0.0.1:5060");
  EXPECT_EQ(a, std::string("10.0.0.1:5060"));
  EXPECT_EQ(a, std::string_view("10.0.0.1:5060"));
  EXPECT_EQ(a, "10.0.0.1:5060");
  EXPECT_FALSE(a == "10.0.0.1:506");
  EXPECT_LT(Address("10.0.0.1:5060"), Address("10.0.0.2:5060"));
  EXPECT_LT(Address("10.0.0.1"), Address("10.0.0.1:5060"));
  EXPECT_EQ(std::hash<Address>{}(a), std::hash<std::string_view>{}("10.0.0.1:5060"));
  std::unordered_map<Address, int> m;
  m[Address(kShort)] = 1;
  m[Address(kHeap)] = 2;
  EXPECT_EQ(m.at(Address(kShort)), 1);
  EXPECT_EQ(m.at(Address(kHeap)), 2);
  EXPECT_EQ("sip:" + a, "sip:10.0.0.1:5060");
}

}  // namespace
}  // namespace sippeer::dht

// sippeer-storage-bench: the cost of MemoryStorage's calls on a node that
// holds many records (issue 15). A REGISTER at its owner finds its record
// two or three times (apply, store_here, the replica batch), an incoming
// replica once or twice; this times find, replace and insert at random
// keys over N records, in ns per call, and the first walk in ring order
// after them (the order is merged when read). Run with N as the argument
// (default 300,000); figures in docs/BENCHMARKS.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dht/memory_storage.h"
#include "dht/ring.h"

using namespace sippeer;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 300'000;
  const dht::Ring ring(160);
  std::vector<std::string> aors;
  std::vector<dht::Id> keys;
  for (std::size_t i = 0; i < n; ++i) {
    aors.push_back("sip:user" + std::to_string(i) + "@example.com");
    keys.push_back(ring.hash(aors.back()));
  }
  auto record = [&](std::size_t i, std::uint64_t version) {
    return dht::StoredRecord{dht::Record{keys[i], aors[i], {"<sip:user@10.0.0.1:5060>;p2p-until=1796444499"}, version},
                             dht::Time{}};
  };
  dht::MemoryStorage st;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) st.put(record(i, 1));
  const auto t1 = Clock::now();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = (i * 2654435761u) % n;  // a fixed shuffle
  std::size_t found = 0;
  const auto t2 = Clock::now();
  for (std::size_t i : order) found += st.find(keys[i], aors[i]).has_value();
  const auto t3 = Clock::now();
  // An AOR not stored: what a REGISTER for a new user asks first.
  std::size_t absent = 0;
  const std::string other = "sip:nobody@example.com";
  for (std::size_t i : order) absent += !st.find(keys[i], other).has_value();
  const auto t3b = Clock::now();
  for (std::size_t i : order) st.put(record(i, 2));
  const auto t4 = Clock::now();
  // A ring change reads the order (a hand-over's range scan): the first
  // read after n inserts sorts what they appended.
  std::size_t walked = 0;
  st.for_each([&](dht::RecordView) { ++walked; });
  const auto t5 = Clock::now();
  auto ns = [&](Clock::duration d) { return std::chrono::duration<double, std::nano>(d).count() / static_cast<double>(n); };
  std::printf("records %zu: insert %.0f ns, find %.0f ns, find absent %.0f ns, replace %.0f ns per call "
              "(found %zu); first ordered walk %.0f ns per record\n",
              n, ns(t1 - t0), ns(t3 - t2), ns(t3b - t3), ns(t4 - t3b), found, ns(t5 - t4));
  return found == n && absent == n && walked == n ? 0 : 1;
}

// sippeer-sim: builds a Chord ring of simulated nodes, stores records,
// optionally kills or churns nodes, runs lookups and checks the outcome
// against an oracle. See --help; tests/sim/CMakeLists.txt holds the
// scenarios CI runs and bench/overlay.sh the scaling table.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tests/sim/sim_network.h"

namespace {

using namespace sippeer;
using dht::Duration;
using dht::Time;

constexpr const char* kUsage = R"(usage: sippeer-sim --nodes N [options]

  --nodes N             ring size (>= 1)
  --bits M              ring width m, 3..160 (default 160)
  --successors R        successor list length (default: dht::Config)
  --replicas K          copies beyond the owner's (default: dht::Config)
  --keys K              user records to store (default 0)
  --lookups L           lookups to run (default 1000)
  --fail P              crash floor(P*N) random nodes at once, 0 <= P < 1
  --churn R             joins/leaves/crashes per second (Poisson); needs --duration
  --duration S          churn period in simulated seconds
  --stabilize-ms T      stabilization interval (default: dht::Config); the
                        predecessor-silence and dead-memory periods scale with it
  --latency-ms A-B      one-way latency, uniform (default 10-30)
  --loss P              datagram loss probability, 0 <= P < 1 (default 0)
  --seed S              random seed (default 1)
  --no-encode           skip the SIP codec (faster; byte counts become 0)
  --json                print one JSON object instead of a table
  --verbose             progress, traffic and the oracle's findings on stderr
  --trace-aor AOR       print every delivered message about this user on stderr
  --help                this text

The heap goes on transparent huge pages (the simulator re-runs itself with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1) unless GLIBC_TUNABLES is already set.
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "sippeer-sim: %s (see --help)\n", msg.c_str());
  std::exit(2);
}

struct Options {
  long long nodes = -1;
  long long bits = 160;
  long long successors = -1, replicas = -1;  // -1: Config default
  long long keys = 0;
  long long lookups = 1000;
  double fail = 0.0;
  std::optional<double> churn, duration;
  long long stabilize_ms = -1;
  long long latency_min = 10, latency_max = 30;
  double loss = 0.0;
  std::uint64_t seed = 1;
  bool encode = true, json = false, verbose = false;
  std::string trace_aor;
};

template <typename T>
T parse_number(std::string_view flag, std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size())
    usage_error(std::string(flag) + ": not a number: '" + std::string(text) + "'");
  return value;
}

long long parse_count(std::string_view flag, std::string_view text, long long min) {
  auto v = parse_number<long long>(flag, text);
  if (v < min) usage_error(std::string(flag) + " must be at least " + std::to_string(min));
  return v;
}

double parse_fraction(std::string_view flag, std::string_view text) {
  auto v = parse_number<double>(flag, text);
  if (!(v >= 0.0 && v < 1.0)) usage_error(std::string(flag) + " must be in [0, 1)");
  return v;
}

double parse_positive(std::string_view flag, std::string_view text) {
  auto v = parse_number<double>(flag, text);
  if (!(v >= 0.0) || !std::isfinite(v)) usage_error(std::string(flag) + " must be >= 0");
  return v;
}

void parse_latency(std::string_view text, Options& o) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) usage_error("--latency-ms: expected A-B, got '" + std::string(text) + "'");
  o.latency_min = parse_count("--latency-ms", text.substr(0, dash), 0);
  o.latency_max = parse_count("--latency-ms", text.substr(dash + 1), 0);
  if (o.latency_min > o.latency_max) usage_error("--latency-ms: A must not exceed B");
  if (o.latency_max > 60000) usage_error("--latency-ms: B must be at most 60000");
}

void check_combination(const Options& o) {
  if (o.nodes < 0) usage_error("--nodes is required");
  if (o.bits < 3 || o.bits > 160) usage_error("--bits must be between 3 and 160");
  if (o.bits < 63 && o.nodes > (1ll << o.bits))
    usage_error("--nodes " + std::to_string(o.nodes) + " does not fit on a " + std::to_string(o.bits) +
                "-bit ring (--bits)");
  if (o.churn && !o.duration) usage_error("--churn needs --duration");
  if (o.duration && !o.churn) usage_error("--duration needs --churn");
  if (o.nodes > 10'000'000) usage_error("--nodes must be at most 10000000");
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--json") { o.json = true; continue; }
    if (flag == "--verbose") { o.verbose = true; continue; }
    if (flag == "--no-encode") { o.encode = false; continue; }
    if (!flag.starts_with("--")) usage_error("unexpected argument '" + std::string(flag) + "'");
    if (i + 1 >= argc || std::string_view(argv[i + 1]).starts_with("--"))
      usage_error(std::string(flag) + " needs a value");
    std::string_view v = argv[++i];
    if (flag == "--nodes") o.nodes = parse_count(flag, v, 1);
    else if (flag == "--bits") o.bits = parse_number<long long>(flag, v);
    else if (flag == "--successors") o.successors = parse_count(flag, v, 1);
    else if (flag == "--replicas") o.replicas = parse_count(flag, v, 0);
    else if (flag == "--keys") o.keys = parse_count(flag, v, 0);
    else if (flag == "--lookups") o.lookups = parse_count(flag, v, 0);
    else if (flag == "--fail") o.fail = parse_fraction(flag, v);
    else if (flag == "--churn") o.churn = parse_positive(flag, v);
    else if (flag == "--duration") o.duration = parse_positive(flag, v);
    else if (flag == "--stabilize-ms") o.stabilize_ms = parse_count(flag, v, 10);
    else if (flag == "--latency-ms") parse_latency(v, o);
    else if (flag == "--loss") o.loss = parse_fraction(flag, v);
    else if (flag == "--seed") o.seed = parse_number<std::uint64_t>(flag, v);
    else if (flag == "--trace-aor") o.trace_aor = v;
    else usage_error("unknown flag " + std::string(flag));
  }
  check_combination(o);
  return o;
}

dht::Config make_config(const Options& o) {
  dht::Config c;
  c.bits = static_cast<int>(o.bits);
  if (o.successors >= 0) c.successors = static_cast<std::size_t>(o.successors);
  if (o.replicas >= 0) c.replicas = static_cast<std::size_t>(o.replicas);
  if (o.stabilize_ms >= 0) {
    // Failure detection is measured in stabilization rounds, so the
    // silence and dead-memory periods keep their ratio to the interval.
    const double scale = static_cast<double>(o.stabilize_ms) / static_cast<double>(c.stabilize_interval.count());
    auto scaled = [scale](Duration d) {
      return Duration{static_cast<Duration::rep>(std::llround(static_cast<double>(d.count()) * scale))};
    };
    c.predecessor_silence = scaled(c.predecessor_silence);
    c.dead_memory = scaled(c.dead_memory);
    c.stabilize_interval = Duration{o.stabilize_ms};
  }
  if (std::string err = c.validate(); !err.empty()) {
    const char* flag = err.find("replica") != std::string::npos     ? "--replicas"
                       : err.find("successor") != std::string::npos ? "--successors"
                       : err.find("stabiliz") != std::string::npos  ? "--stabilize-ms"
                                                                    : "configuration";
    usage_error(std::string(flag) + ": " + err);
  }
  return c;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// ---------------------------------------------------------------------------

struct Member {
  std::string address;
  dht::Node* node;
};

struct StoredKey {
  std::string aor;
  dht::Id key;
};

struct Lookup {
  std::size_t key = 0;  // into keys_, when keys are stored
  bool done = false, ok = false;
  int hops = 0;
  int status = 0;
};

struct Results {
  bool ring_consistent = false;
  std::size_t keys_lost = 0, keys_with_live_copy_lost = 0, store_failures = 0;
  std::size_t lookups_counted = 0, lookups_ok = 0;
  double mean_hops = 0;
  int p50 = 0, p99 = 0, max_hops = 0;
  double maintenance = 0;
  std::size_t under_replicated_before = 0, under_replicated_at_end = 0;
};

class Simulation {
 public:
  Simulation(const Options& o, const dht::Config& cfg)
      : o_(o), cfg_(cfg), ring_(cfg.bits), rng_(o.seed ^ 0x5eed5eed5eed5eedull),
        net_(net_config(o), o.seed) {
    interval_ = cfg_.stabilize_interval;
    net_.on_join_failed = [this](std::string_view sv) {
      std::string address(sv);
      net_.at(net_.now() + interval_, [this, address] { retry_join(address); });
    };
    if (o.verbose || !o.trace_aor.empty())
      net_.trace = [this](const sim::TraceEntry& e) { observe(e); };
    if (o.verbose) {
      net_.on_codec_problem = [this](const std::string& what, const std::string& text) {
        if (codec_problems_seen_.insert(what).second)  // the first of each kind
          std::fprintf(stderr, "codec: %s\n%s\n", what.c_str(), text.c_str());
      };
    }
  }

  // `lookups_timed` wraps the lookup phase, so that main (which alone reads
  // the wall clock) can time it.
  Results run(const std::function<void(const std::function<void()>&)>& lookups_timed) {
    Results r;
    bool ok = build_ring();
    progress("ring built", ok);
    if (o_.keys > 0) store_keys(r);
    net_.run_for(interval_ * 3);  // replication settles
    r.maintenance = measure_maintenance();
    r.under_replicated_before = under_replicated();
    if (o_.fail > 0) {
      crash_fraction();
      progress("after crashes", settle());
      net_.run_for(interval_ * 3);  // replica repair
    }
    if (o_.churn) {
      churn();
      progress("after churn", settle());
      net_.run_for(interval_ * 3);
    }
    lookups_timed([this] { run_lookups(); });
    r.ring_consistent = net_.ring_consistent();
    judge(r);
    return r;
  }

  const sim::Network& net() const { return net_; }
  std::size_t join_retries() const { return join_retries_; }

 private:
  static sim::NetConfig net_config(const Options& o) {
    sim::NetConfig n;
    n.latency_min = Duration{o.latency_min};
    n.latency_max = Duration{o.latency_max};
    n.loss = o.loss;
    n.encode = o.encode;
    // Far above any healthy run (a lookup or a stabilization round keeps a
    // few requests open for tens of milliseconds), far below running out
    // of memory.
    n.max_in_flight = std::max<std::size_t>(100'000, 4 * static_cast<std::size_t>(o.nodes));
    return n;
  }

  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_.next_u64() % n); }

  void progress(const char* phase, bool consistent) {
    if (!o_.verbose) return;
    std::fprintf(stderr, "[%8.1f s] %s: live=%zu consistent=%s messages=%llu timeouts=%llu (live peer: %llu)\n",
                 sim_seconds(), phase, net_.live_count(), consistent ? "yes" : "no",
                 static_cast<unsigned long long>(net_.messages_sent()),
                 static_cast<unsigned long long>(net_.timeouts()),
                 static_cast<unsigned long long>(net_.live_timeouts()));
    if (!consistent) std::fprintf(stderr, "  ring: %s\n", net_.ring_problem().c_str());
  }

  double sim_seconds() const { return std::chrono::duration<double>(net_.now().time_since_epoch()).count(); }

  // ---- membership ----

  dht::Id random_id() {
    std::array<std::uint8_t, 20> bytes{};
    for (std::size_t i = 0; i < bytes.size(); i += 8) {
      std::uint64_t v = rng_.next_u64();
      for (std::size_t j = 0; j < 8 && i + j < bytes.size(); ++j) bytes[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
    }
    return dht::Id::from_bytes(bytes).masked(cfg_.bits);
  }

  // Ids are never reused while the ring has room: a newcomer with a dead
  // node's id could be refused as a duplicate while the dead one is still
  // remembered.
  dht::Id fresh_id() {
    const bool room = o_.bits >= 63 || used_ids_.size() < (std::size_t{1} << o_.bits);
    for (;;) {
      dht::Id id = random_id();
      if (room ? used_ids_.insert(id).second : !live_id(id)) return id;
    }
  }

  bool live_id(const dht::Id& id) const {
    return std::any_of(members_.begin(), members_.end(), [&](const Member& m) {
      return m.node->self().id == id && net_.alive(m.address);
    });
  }

  std::string next_address() {
    std::uint32_t i = ++address_counter_;
    return "10." + std::to_string((i >> 16) & 0xff) + "." + std::to_string((i >> 8) & 0xff) + "." +
           std::to_string(i & 0xff) + ":5060";
  }

  Member& add_member() {
    dht::NodeRef self{fresh_id(), next_address()};
    dht::Node& node = net_.add_node(self, cfg_);
    members_.push_back({self.address.str(), &node});
    return members_.back();
  }

  // A random live member, pruning the dead as they are met; `joined`
  // restricts it to members in the ring.
  const Member* random_member(bool joined) {
    for (int tries = 0; tries < 64 && !members_.empty(); ++tries) {
      std::size_t i = pick(members_.size());
      if (!net_.alive(members_[i].address)) {
        members_[i] = std::move(members_.back());
        members_.pop_back();
        continue;
      }
      if (!joined || members_[i].node->joined()) return &members_[i];
    }
    std::vector<const Member*> fit;
    for (const Member& m : members_)
      if (net_.alive(m.address) && (!joined || m.node->joined())) fit.push_back(&m);
    return fit.empty() ? nullptr : fit[pick(fit.size())];
  }

  const Member* join_new_node() {
    const Member* boot = random_member(true);
    if (!boot) return nullptr;
    std::string boot_address = boot->address;  // add_member may move members_
    const Member& m = add_member();
    net_.join(m.address, boot_address);
    return &m;
  }

  // What a daemon does when its bootstrap peer fails it: try another.
  void retry_join(const std::string& address) {
    const dht::Node* node = net_.node(address);
    if (!net_.alive(address) || node->status().state != dht::NodeStatus::State::Idle) return;
    const Member* boot = random_member(true);
    if (!boot) return;
    ++join_retries_;
    net_.join(address, boot->address);
  }

  std::size_t joined_count() const {
    return static_cast<std::size_t>(std::count_if(members_.begin(), members_.end(), [&](const Member& m) {
      return m.node->joined() && net_.alive(m.address);
    }));
  }

  // ---- phases ----

  // Joins come in waves, one per stabilization interval, each half as large
  // as the ring already is: concurrent joins are legal Chord, and the ring
  // grows by half per interval instead of by a constant. (Doubling needs
  // more messages in all: many newcomers in one gap take longer to sort
  // out; smaller waves mean more rounds of maintenance.)
  bool build_ring() {
    net_.start_singleton(add_member().address);
    auto remaining = static_cast<std::size_t>(o_.nodes) - 1;
    while (remaining > 0 && !net_.overloaded()) {
      std::size_t wave = std::min(remaining, std::max<std::size_t>(1, joined_count() / 2));
      for (std::size_t k = 0; k < wave; ++k)
        net_.at(net_.now() + interval_ * static_cast<Duration::rep>(k) / static_cast<Duration::rep>(wave),
                [this] { join_new_node(); });
      remaining -= wave;
      net_.run_for(interval_);
    }
    return settle();
  }

  // Runs until the oracle says the ring is whole, checking once per
  // stabilization interval, for at most a bounded time.
  bool settle() {
    const Time give_up = net_.now() + std::max(interval_ * 200, Duration{600'000});
    while (!net_.ring_consistent()) {
      if (net_.now() >= give_up || net_.overloaded()) return false;
      tallying_ = o_.verbose;
      net_.run_for(interval_);
      if (o_.verbose) print_tally();
      tallying_ = false;
      progress("settling", false);
    }
    return true;
  }

  // Runs until every callback has fired (or a bound passes).
  template <typename Done>
  void wait_for(Done all_done) {
    const Time give_up = net_.now() + Duration{600'000};
    while (!all_done() && net_.now() < give_up && !net_.overloaded()) net_.run_for(Duration{100});
  }

  // Issues `count` operations at a steady rate.
  template <typename Issue>
  void at_rate(std::size_t count, double per_second, Issue issue) {
    const Time start = net_.now();
    for (std::size_t i = 0; i < count; ++i) {
      auto offset = static_cast<Duration::rep>(static_cast<double>(i) * 1000.0 / per_second);
      net_.at(start + Duration{offset}, [issue, i] { issue(i); });
    }
  }

  void store_keys(Results& r) {
    keys_.reserve(static_cast<std::size_t>(o_.keys));
    for (long long i = 0; i < o_.keys; ++i) {
      std::string aor = "sip:user" + std::to_string(i) + "@sim.test";
      dht::Id key = ring_.hash(aor);
      keys_.push_back({std::move(aor), key});
    }
    std::size_t done = 0;
    at_rate(keys_.size(), ops_per_second(), [this, &done, &r](std::size_t i) {
      const Member* from = random_member(true);
      auto finish = [&done, &r](const dht::LookupResult& res) {
        ++done;
        if (res.status != dht::status::kOk) ++r.store_failures;
      };
      if (!from) return finish(dht::LookupResult{dht::status::kUnavailable, {}, {}, 0});
      dht::Record rec{keys_[i].key, keys_[i].aor,
                      {"<sip:user" + std::to_string(i) + "@10.9.0.1:5062>"}, 1};
      net_.store(from->address, rec, std::chrono::hours(24), finish);
    });
    wait_for([&] { return done == keys_.size(); });
  }

  // Bytes per live node per second over `window`.
  double traffic_rate(Duration window) {
    const std::uint64_t before = net_.bytes_sent();
    net_.run_for(window);
    const double seconds = std::chrono::duration<double>(window).count();
    return static_cast<double>(net_.bytes_sent() - before) / static_cast<double>(net_.live_count()) / seconds;
  }

  // A freshly built ring still refreshes the fingers its joins left stale
  // for several intervals; the quiet window starts once traffic stops
  // falling (or after 20 intervals), then lasts 10 intervals.
  double measure_maintenance() {
    double last = traffic_rate(interval_ * 2);
    for (int i = 0; i < 9; ++i) {
      double now = traffic_rate(interval_ * 2);
      if (o_.verbose) std::fprintf(stderr, "[%8.1f s] warm-up: %.0f B/node/s\n", sim_seconds(), now);
      if (now >= 0.97 * last) break;
      last = now;
    }
    tallying_ = o_.verbose;
    const double rate = traffic_rate(interval_ * 10);
    if (o_.verbose) print_tally();
    tallying_ = false;
    return rate;
  }

  void crash_fraction() {
    auto victims = static_cast<std::size_t>(std::floor(o_.fail * static_cast<double>(o_.nodes)));
    victims = std::min(victims, net_.live_count() - 1);
    for (std::size_t k = 0; k < victims; ++k) {
      const Member* m = random_member(false);
      if (m) net_.crash(m->address);
    }
  }

  // Poisson arrivals; each event is equally a join, a graceful leave or a
  // crash, never taking the ring below two live nodes.
  void churn() {
    const Time end = net_.now() + Duration{static_cast<Duration::rep>(*o_.duration * 1000.0)};
    if (*o_.churn <= 0) return net_.run_until(end);
    double t_ms = std::chrono::duration<double, std::milli>(net_.now().time_since_epoch()).count();
    for (;;) {
      double u = (static_cast<double>(rng_.next_u64() >> 11) + 1.0) * 0x1.0p-53;
      t_ms += -std::log(u) * 1000.0 / *o_.churn;
      Time t{Duration{static_cast<Duration::rep>(t_ms)}};
      if (t >= end) break;
      net_.run_until(t);
      churn_event();
    }
    net_.run_until(end);
  }

  void churn_event() {
    const std::uint64_t kind = rng_.next_u64() % 3;
    if (kind == 0) {
      if (o_.bits < 63 && net_.live_count() >= (std::size_t{1} << o_.bits)) return;  // no free id
      if (const Member* m = join_new_node()) log_member("join", *m);
      return;
    }
    if (net_.live_count() <= 2) return;
    const Member* m = random_member(kind == 1);
    if (!m) return;
    log_member(kind == 1 ? "leave" : "crash", *m);
    if (kind == 1) net_.leave(m->address);
    else net_.crash(m->address);
  }

  void log_member(const char* event, const Member& m) const {
    if (o_.verbose)
      std::fprintf(stderr, "[%9.3f s] churn: %s %s id %s\n", sim_seconds(), event, m.address.c_str(),
                   ring_.format(m.node->self().id).c_str());
  }

  void run_lookups() {
    lookups_.assign(static_cast<std::size_t>(o_.lookups), Lookup{});
    std::size_t done = 0;
    at_rate(lookups_.size(), ops_per_second(), [this, &done](std::size_t i) {
      Lookup& l = lookups_[i];
      auto finish = [this, &done, i](const dht::LookupResult& res) {
        ++done;
        Lookup& l = lookups_[i];
        l.done = true;
        l.hops = res.hops;
        l.ok = res.status == dht::status::kOk && (keys_.empty() || found(res, keys_[l.key]));
        l.status = res.status;
      };
      const Member* from = random_member(true);
      if (!from) return finish(dht::LookupResult{dht::status::kUnavailable, {}, {}, 0});
      dht::Target t = dht::Target::key(random_id());
      if (!keys_.empty()) {
        l.key = pick(keys_.size());
        t = dht::Target::user(keys_[l.key].key, keys_[l.key].aor);
      }
      net_.lookup(from->address, t, finish);
    });
    wait_for([&] { return done == lookups_.size(); });
  }

  static bool found(const dht::LookupResult& res, const StoredKey& k) {
    return res.record && res.record->aor == k.aor && !res.record->tombstone();
  }

  void observe(const sim::TraceEntry& e) {
    if (tallying_) tally(e);
    if (!o_.trace_aor.empty() && e.request.to.text == o_.trace_aor) print_message(e);
  }

  void print_message(const sim::TraceEntry& e) const {
    const dht::Request& q = e.request;
    std::string what = e.is_request ? std::string(dht::kind_name(q.kind))
                                    : std::to_string(e.response.status) + " to " + dht::kind_name(q.kind);
    const std::optional<dht::Record>& rec = e.is_request ? q.record : e.response.record;
    std::fprintf(stderr, "[%9.3f s] %s -> %s: %s%s%s\n", sim_seconds(), e.from.c_str(), e.to.c_str(), what.c_str(),
                 rec ? (" v" + std::to_string(rec->version) + " bindings=" + std::to_string(rec->bindings.size())).c_str() : "",
                 e.is_request && q.leaving ? " (leaving)" : "");
  }

  // Delivered traffic by message kind, for --verbose.
  void tally(const sim::TraceEntry& e) {
    auto& t = traffic_[static_cast<std::size_t>(e.request.kind)];
    (e.is_request ? t.requests : t.responses) += 1;
    t.bytes += e.text.size();
  }

  void print_tally() {
    std::fprintf(stderr, "[%8.1f s] traffic delivered since the last report, by request kind:\n", sim_seconds());
    for (std::size_t k = 0; k < traffic_.size(); ++k) {
      const Traffic& t = traffic_[k];
      std::fprintf(stderr, "  %-10s requests=%-8llu responses=%-8llu bytes=%-10llu (%.0f B/message)\n",
                   dht::kind_name(static_cast<dht::Kind>(k)), static_cast<unsigned long long>(t.requests),
                   static_cast<unsigned long long>(t.responses), static_cast<unsigned long long>(t.bytes),
                   t.requests + t.responses ? static_cast<double>(t.bytes) / static_cast<double>(t.requests + t.responses) : 0.0);
    }
    traffic_ = {};
  }

  // ---- the oracle ----

  static std::size_t owner_index(const std::vector<dht::NodeRef>& ring, const dht::Id& key) {
    auto it = std::lower_bound(ring.begin(), ring.end(), key,
                               [](const dht::NodeRef& n, const dht::Id& k) { return n.id < k; });
    return it == ring.end() ? 0 : static_cast<std::size_t>(it - ring.begin());
  }

  bool holds(const dht::NodeRef& n, const StoredKey& k) const {
    const std::optional<dht::RecordView> s = net_.storage(n.address)->find(k.key, k.aor);
    return s && !s->tombstone();
  }

  // Keys missing from their owner or from any of its first k successors
  // (the replicas the owner is meant to keep).
  std::size_t under_replicated() const {
    const std::vector<dht::NodeRef> ring = net_.ring_members();
    const std::size_t copies = std::min(cfg_.replicas + 1, ring.size());
    std::size_t count = 0;
    for (const StoredKey& k : keys_) {
      const std::size_t owner = owner_index(ring, k.key);
      for (std::size_t j = 0; j < copies; ++j) {
        if (!holds(ring[(owner + j) % ring.size()], k)) {
          ++count;
          break;
        }
      }
    }
    return count;
  }

  // For --verbose: where the live copies of a key are, as ring positions
  // relative to its owner (0 = owner, 1 = its successor, ...).
  void explain_key(const std::vector<dht::NodeRef>& ring, const StoredKey& k, bool lookup_failed) const {
    const std::size_t owner = owner_index(ring, k.key);
    std::string where;
    for (std::size_t j = 0; j < ring.size(); ++j)
      if (holds(ring[(owner + j) % ring.size()], k)) where += " " + std::to_string(j);
    std::fprintf(stderr, "lost: %s (key %s) owner %s; live copies at positions%s%s\n", k.aor.c_str(),
                 ring_.format(k.key).c_str(), ring[owner].address.c_str(), where.c_str(),
                 lookup_failed ? "; a lookup failed" : "");
  }

  void judge(Results& r) {
    std::vector<int> copies(keys_.size(), 0);
    std::vector<bool> failed(keys_.size(), false);
    std::unordered_map<std::string_view, std::size_t> by_aor;
    for (std::size_t i = 0; i < keys_.size(); ++i) by_aor.emplace(keys_[i].aor, i);
    for (const std::string& address : net_.live_addresses()) {
      net_.storage(address)->for_each([&](dht::RecordView s) {
        auto it = by_aor.find(s.aor());
        if (it != by_aor.end() && !s.tombstone()) ++copies[it->second];
      });
    }
    std::vector<int> hops;
    for (const Lookup& l : lookups_) {
      if (!keys_.empty() && copies[l.key] == 0) continue;  // nothing left to find
      ++r.lookups_counted;
      if (!l.ok) {
        if (!keys_.empty()) failed[l.key] = true;
        continue;
      }
      ++r.lookups_ok;
      hops.push_back(l.hops);
    }
    const std::vector<dht::NodeRef> ring = net_.ring_members();
    for (std::size_t i = 0; i < keys_.size() && !ring.empty(); ++i) {
      if (copies[i] == 0) {
        ++r.keys_lost;
      } else if (!holds(ring[owner_index(ring, keys_[i].key)], keys_[i]) || failed[i]) {
        if (o_.verbose && r.keys_with_live_copy_lost < 5) explain_key(ring, keys_[i], failed[i]);
        ++r.keys_with_live_copy_lost;
      }
    }
    r.under_replicated_at_end = under_replicated();
    summarize_hops(hops, r);
    if (o_.verbose) print_failures();
  }

  void print_failures() const {
    std::map<int, std::size_t> by_status;
    for (const Lookup& l : lookups_)
      if (!l.ok) ++by_status[l.status];
    for (const auto& [status, n] : by_status)
      std::fprintf(stderr, "failed lookups with status %d: %zu\n", status, n);
  }

  static void summarize_hops(std::vector<int>& hops, Results& r) {
    if (hops.empty()) return;
    std::sort(hops.begin(), hops.end());
    double sum = 0;
    for (int h : hops) sum += h;
    r.mean_hops = sum / static_cast<double>(hops.size());
    auto rank = [&](double q) {  // nearest-rank percentile
      auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(hops.size())));
      return hops[std::clamp<std::size_t>(k, 1, hops.size()) - 1];
    };
    r.p50 = rank(0.50);
    r.p99 = rank(0.99);
    r.max_hops = hops.back();
  }

  // Stores and lookups are issued at max(2000, N) per second: about one
  // per node per second on big rings, so wall time goes to lookups rather
  // than to maintenance while they trickle in.
  double ops_per_second() const { return std::max(2000.0, static_cast<double>(o_.nodes)); }

  const Options& o_;
  dht::Config cfg_;
  dht::Ring ring_;
  dht::SplitMix64 rng_;
  sim::Network net_;
  Duration interval_;
  std::vector<Member> members_;
  std::unordered_set<dht::Id, dht::IdHash> used_ids_;
  std::uint32_t address_counter_ = 0;
  std::vector<StoredKey> keys_;
  std::vector<Lookup> lookups_;
  std::unordered_set<std::string> codec_problems_seen_;
  bool tallying_ = false;
  std::size_t join_retries_ = 0;
  struct Traffic {
    std::uint64_t requests = 0, responses = 0, bytes = 0;
  };
  std::array<Traffic, dht::kKinds> traffic_{};
};

// ---------------------------------------------------------------------------

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

struct Field {
  const char* name;
  std::string value;
};

struct WallTimes {
  double total = 0, lookups = 0;
};

std::vector<Field> report(const Options& o, const dht::Config& cfg, const Results& r,
                          const Simulation& sim, const WallTimes& wall) {
  const sim::Network& net = sim.net();
  const double rate = r.lookups_counted == 0
                          ? NAN
                          : static_cast<double>(r.lookups_ok) / static_cast<double>(r.lookups_counted);
  auto u = [](auto v) { return std::to_string(v); };
  return {
      {"nodes", u(net.live_count())},
      {"bits", u(o.bits)},
      {"successors", u(cfg.successors)},
      {"replicas", u(cfg.replicas)},
      {"lookups", u(o.lookups)},
      {"success_rate", number(rate)},
      {"mean_hops", number(r.mean_hops)},
      {"p50_hops", u(r.p50)},
      {"p99_hops", u(r.p99)},
      {"max_hops", u(r.max_hops)},
      {"keys", u(o.keys)},
      {"keys_lost", u(r.keys_lost)},
      {"keys_with_live_copy_lost", u(r.keys_with_live_copy_lost)},
      {"ring_consistent", r.ring_consistent ? "true" : "false"},
      {"messages", u(net.messages_sent())},
      {"maintenance_bytes_per_node_per_s", number(r.maintenance)},
      {"sim_seconds", number(std::chrono::duration<double>(net.now().time_since_epoch()).count())},
      {"wall_seconds", number(wall.total)},
      {"lookup_wall_seconds", number(wall.lookups)},
      {"decode_failures", u(net.decode_failures())},
      {"codec_mismatches", u(net.codec_mismatches())},
      {"store_failures", u(r.store_failures)},
      {"implausible_refused", u(net.implausible())},
      {"under_replicated_before_failures", u(r.under_replicated_before)},
      {"under_replicated_at_end", u(r.under_replicated_at_end)},
      {"join_retries", u(sim.join_retries())},
      {"timeouts", u(net.timeouts())},
      {"live_timeouts", u(net.live_timeouts())},
      {"answer_timeouts", u(net.answer_timeouts())},
      {"lookups_counted", u(r.lookups_counted)},
      {"bytes", u(net.bytes_sent())},
      {"peak_rss_mb", number(peak_rss_mb())},
      {"aborted", net.overloaded() ? "\"message storm: over " + u(net.in_flight() - 1) +
                                         " requests in flight at t=" +
                                         number(std::chrono::duration<double>(net.now().time_since_epoch()).count()) + " s\""
                                   : "null"},
  };
}

void print(const std::vector<Field>& fields, bool json) {
  if (json) {
    std::string out = "{";
    for (const Field& f : fields) out += (out.size() > 1 ? "," : "") + std::string("\"") + f.name + "\":" + f.value;
    std::printf("%s}\n", out.c_str());
    return;
  }
  for (const Field& f : fields) std::printf("%-34s %s\n", f.name, f.value.c_str());
}

}  // namespace

// The simulator's heap on transparent huge pages. At 100,000 nodes it is
// ~1.3 GB of small objects touched in no order, and the wall time goes to
// TLB and cache misses more than to instructions: huge pages took the
// 100,000-node run from 659 to 572 s (two runs side by side, one per core).
// glibc only does it when told before the process starts
// (glibc.malloc.hugetlb=1: madvise(MADV_HUGEPAGE) on its arenas, for
// kernels whose THP mode is "madvise", Debian's default), so the simulator
// runs itself again with the tunable set. A GLIBC_TUNABLES already in the
// environment, even empty, is left as the caller set it.
void run_on_huge_pages(char** argv) {
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return;
  if (setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("GLIBC_TUNABLES");  // exec failed: go on as we are
}

int main(int argc, char** argv) {
  run_on_huge_pages(argv);
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const auto start = Clock::now();
  const Options o = parse_args(argc, argv);
  const dht::Config cfg = make_config(o);
  Simulation sim(o, cfg);
  WallTimes wall;
  Results r = sim.run([&](const std::function<void()>& phase) {
    const auto t = Clock::now();
    phase();
    wall.lookups = seconds_since(t);
  });
  wall.total = seconds_since(start);
  print(report(o, cfg, r, sim, wall), o.json);
  return 0;
}

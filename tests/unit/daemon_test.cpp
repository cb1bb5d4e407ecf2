// One Daemon in the test's process: it starts on a free loopback port,
// runs its SIP loop in a thread of its own, answers the admin backend's
// calls from this thread (run_in_sip_thread, as the admin server does),
// and leaves gracefully when asked. A second daemon on the same port says
// which port is taken and what to do.
#include "adaptor/node/daemon.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "adaptor/log.h"

namespace sippeer::adaptor {
namespace {

Settings alone_on_loopback(const std::string& state_dir, int port = 0) {
  Settings s;
  s.listen = "127.0.0.1";
  s.port = port;
  s.tcp = false;
  s.discovery = false;  // -N: a ring of our own
  s.multicast = false;
  s.state_dir = state_dir;
  return s;
}

// A quieter log for the test, the level as it was after it (the other
// tests of this binary read it).
struct QuietLog {
  explicit QuietLog(LogLevel level) : before(log_level()) { set_log_level(level); }
  ~QuietLog() { set_log_level(before); }
  LogLevel before;
};

// A state_dir of the test's own, removed with the scope.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/sippeer-daemon-test-XXXXXX";
    if (const char* d = ::mkdtemp(tmpl)) path = d;
  }
  ~TempDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
  std::string path;
};

TEST(Daemon, StartsAloneAnswersTheAdminSideAndLeavesWhenAsked) {
  const QuietLog quiet(LogLevel::Warn);
  // Sofia's loop belongs to the thread that made it: the daemon is made,
  // started, run and destroyed in a thread of its own, as main() does in
  // the main one; this thread talks to it as the admin server does.
  const TempDir state;
  std::promise<Daemon*> ready;
  int code = -1;
  std::string err;
  std::thread loop([&] {
    Daemon daemon(alone_on_loopback(state.path));
    if (!daemon.start(&err)) {
      ready.set_value(nullptr);
      return;
    }
    ready.set_value(&daemon);
    code = daemon.run();
  });
  Daemon* running = ready.get_future().get();
  if (!running) {
    loop.join();
    FAIL() << "start failed: " << err;
  }
  Daemon& d = *running;
  NodeSnapshot snap;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    d.run_in_sip_thread([&] { snap = d.snapshot(); });
  } while (!snap.joined && std::chrono::steady_clock::now() < end);
  EXPECT_TRUE(snap.joined);
  EXPECT_EQ(snap.state, "joined");
  EXPECT_EQ(snap.discovery, "none");
  EXPECT_EQ(snap.local_address, d.local_address());
  ASSERT_EQ(snap.successors.size(), 1u);
  EXPECT_EQ(snap.successors[0].address, d.local_address());  // alone: its own successor
  std::vector<RegistrationView> regs{{"x", "", false, 0, {}, {}}};
  d.run_in_sip_thread([&] { regs = d.registrations(""); });
  EXPECT_TRUE(regs.empty());

  d.run_in_sip_thread([&] { d.request_leave(); });
  loop.join();
  EXPECT_EQ(code, 0);
}

TEST(Daemon, APortInUseIsNamedWithWhatToDo) {
  const QuietLog quiet(LogLevel::Error);
  const TempDir a, b;
  Daemon first(alone_on_loopback(a.path));
  std::string err;
  ASSERT_TRUE(first.start(&err)) << err;
  const int port = std::stoi(first.local_address().substr(first.local_address().rfind(':') + 1));
  Daemon second(alone_on_loopback(b.path, port));
  EXPECT_FALSE(second.start(&err));
  EXPECT_NE(err.find("UDP port " + std::to_string(port) + " on 127.0.0.1 is already in use"), std::string::npos) << err;
  EXPECT_NE(err.find("-p PORT"), std::string::npos) << err;
}

}  // namespace
}  // namespace sippeer::adaptor

// sippeer: a serverless SIP registrar and proxy on a Chord ring.
#include <cstdio>
#include <iostream>
#include <memory>

#include "adaptor/admin/admin_guard.h"
#include "adaptor/admin/admin_http.h"
#include "adaptor/admin/ctl.h"
#include "adaptor/node/daemon.h"
#include "adaptor/log.h"
#include "adaptor/config/settings.h"
#include "adaptor/version.h"

using namespace sippeer::adaptor;

namespace {

constexpr int kExitConfig = 78;  // EX_CONFIG, as sysexits.h
constexpr const char* kLogTag = "dht";  // startup lines, as the daemon's own (adaptor/log.h)

int print_errors(const std::vector<ConfigError>& errors) {
  for (const auto& e : errors) std::cerr << e.format() << "\n";
  return errors.empty() ? 0 : kExitConfig;
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cl;
  if (auto errors = parse_command_line(argc, argv, cl); !errors.empty()) {
    print_errors(errors);
    std::cerr << "try '" << argv[0] << " --help'\n";
    return kExitConfig;
  }
  if (cl.help) {
    std::cout << help_text(argv[0]);
    return 0;
  }
  if (cl.version) {
    std::cout << "sippeer " << kVersion << "\n";
    return 0;
  }
  if (!cl.rest.empty() && cl.rest[0] == "ctl") {
    // The admin address comes from --config/--admin before "ctl", else its default.
    Settings s;
    if (!cl.config_path.empty()) load_config_file(cl.config_path, s);
    apply_command_line(argc, argv, s);
    return run_ctl({cl.rest.begin() + 1, cl.rest.end()}, s.admin, read_admin_token(s.admin_token, resolved_state_dir(s)));
  }
  if (!cl.rest.empty()) {
    std::cerr << "sippeer: unknown command '" << cl.rest[0] << "' (the only command is 'ctl')\n";
    return kExitConfig;
  }
  if (cl.config_reference) {
    std::cout << config_reference_markdown();
    return 0;
  }
  Settings settings;
  std::vector<ConfigError> errors;
  if (!cl.config_path.empty()) errors = load_config_file(cl.config_path, settings);
  if (errors.empty()) errors = apply_command_line(argc, argv, settings);
  if (errors.empty()) errors = validate(settings, cl.config_path.empty() ? "command line" : cl.config_path);
  if (cl.check_config) {
    if (print_errors(errors) != 0) return kExitConfig;
    std::cout << (cl.config_path.empty() ? "defaults" : cl.config_path) << ": OK\n";
    return 0;
  }
  if (!errors.empty()) {
    print_errors(errors);
    return kExitConfig;
  }
  set_log_level(settings.log_level);
  // SIGHUP reads the same sources again, in the same order.
  const std::string config_path = cl.config_path;
  auto reload = [config_path, argc, argv](Settings& s) {
    std::vector<ConfigError> errors;
    if (!config_path.empty()) errors = load_config_file(config_path, s);
    if (errors.empty()) errors = apply_command_line(argc, argv, s);
    if (errors.empty()) errors = validate(s, config_path.empty() ? "command line" : config_path);
    return errors;
  };
  Daemon daemon(settings, reload);
  std::string err;
  if (!daemon.start(&err)) {
    SIPPEER_LOG(Error) << err;
    return 1;
  }
  // The admin API is ours, not the daemon's: it sees the node only as an
  // AdminBackend. Declared after the daemon, it stops before the daemon goes.
  std::unique_ptr<AdminServer> admin;
  if (!settings.admin.empty()) {
    std::string token = admin_token(settings.admin_token, resolved_state_dir(settings), &err);
    if (token.empty()) {
      SIPPEER_LOG(Error) << "admin API: " << err;
      return 1;
    }
    admin = std::make_unique<AdminServer>(daemon, std::move(token));
    if (std::string e = admin->start(settings.admin); !e.empty()) {
      SIPPEER_LOG(Error) << "admin API: " << e;
      return 1;
    }
    SIPPEER_LOG(Info) << "admin API on http://" << settings.admin;
  }
  const int code = daemon.run();
  admin.reset();  // before the daemon, whose SIP thread its requests run in
  return code;
}

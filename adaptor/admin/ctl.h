// `sippeer ctl`: the operator's commands, over the admin HTTP API
// (kamcmd-style: one verb per command, human text or --json).
#pragma once

#include <string>
#include <vector>

namespace sippeer::adaptor {

// args: everything after "ctl". Returns the process exit code.
int run_ctl(const std::vector<std::string>& args, const std::string& default_admin);

}  // namespace sippeer::adaptor

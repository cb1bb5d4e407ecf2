// `sippeer ctl`: the operator's commands, over the admin HTTP API
// (kamcmd-style: one verb per command, human text or --json).
#pragma once

#include <string>
#include <vector>

namespace sippeer::adaptor {

// args: everything after "ctl". Returns the process exit code.
// `token` is sent with POST commands (admin.token, or state_dir/admin.token).
int run_ctl(const std::vector<std::string>& args, const std::string& default_admin, const std::string& token = {});

// `ctl lookup` in words, from the JSON body of GET /lookup: the AOR, its
// key, the owner and the hop count, one binding a line. A body that is not
// a JSON object comes back unchanged.
std::string lookup_text(const std::string& json_body);

}  // namespace sippeer::adaptor

// libFuzzer: the configuration loader (adaptor/config): any YAML gives
// either settings or errors naming file, line and key; then validate().
#include <cstdint>
#include <string>

#include "adaptor/config/settings.h"

using namespace sippeer::adaptor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16384) return 0;  // yaml-cpp recursion on deep nesting is not ours to fuzz
  Settings s;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto errors = load_config_text(text, "fuzz.yaml", s);
  for (const auto& e : errors) (void)e.format();
  if (errors.empty()) (void)validate(s, "fuzz.yaml");
  return 0;
}

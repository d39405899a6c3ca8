// config::load_config on arbitrary file contents (SPEC §2). It must never
// throw or crash, and every error names the file. An accepted file holds no
// NUL octet in a string setting: consumers (libmilter, libunbound, fopen)
// read them as C strings and would see less than what was checked. The input
// goes to one fixed file per process (/tmp/dsm-config-fuzz-<pid>.conf),
// written and removed on each call (libFuzzer ends without running static
// destructors).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/config/config.hpp"
#include "tests/support/fuzz_checks.hpp"

namespace {

using dsm::fuzz::check;

const std::string& temp_path() {
    static const std::string path =
        "/tmp/dsm-config-fuzz-" + std::to_string(static_cast<long>(::getpid())) + ".conf";
    return path;
}

bool no_nul(std::string_view s) {
    return s.find('\0') == std::string_view::npos;
}

void check_strings(const dsm::config::Config& c) {
    for (const std::string* s :
         {&c.milter.socket, &c.milter.header, &c.milter.user, &c.milter.log_target,
          &c.resolver.trust_anchor_file, &c.resolver.unbound_config, &c.sts.ca_file, &c.cache.store,
          &c.prefetch.warm_list}) {
        check(no_nul(*s));
    }
    for (const auto& f : c.resolver.forwarders) {
        check(no_nul(f));
    }
    for (const auto& z : c.resolver.stub_zones) {
        check(no_nul(z.zone) && no_nul(z.address));
    }
    check(!c.policy_map || no_nul(c.policy_map->listen));
    check(!c.metrics || no_nul(c.metrics->listen));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string& path = temp_path();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    check(f != nullptr);
    check(size == 0 || std::fwrite(data, 1, size, f) == size);
    check(std::fclose(f) == 0);

    const auto config = dsm::config::load_config(path);
    std::remove(path.c_str());
    if (config) {
        check(*config != nullptr && (*config)->path == path);
        check_strings(**config);
    } else {
        check(config.error().rfind(path + ":", 0) == 0);
    }
    return 0;
}

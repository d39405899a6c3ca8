// Fuzz target: the _mta-sts TXT record parser and the discovery rule
// (RFC 8461 §3.1). The input is split at '\n' into the records of one RRset;
// each record is also parsed on its own, and the input as TXT rdata.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dns/rdata.hpp"
#include "core/sts/txt_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> records;
    std::size_t pos = 0;
    for (;;) {
        const std::size_t nl = input.find('\n', pos);
        records.emplace_back(input.substr(pos, nl == std::string_view::npos ? nl : nl - pos));
        if (nl == std::string_view::npos) {
            break;
        }
        pos = nl + 1;
    }
    for (const auto& r : records) {
        std::string why;
        const auto txt = dsm::sts::parse_sts_txt(r, &why);
        // A valid record always has an id of 1 to 32 octets, an invalid one a reason.
        if (txt ? (txt->id.empty() || txt->id.size() > 32) : why.empty()) {
            __builtin_trap();
        }
    }
    const auto d = dsm::sts::discover_sts(records);
    if ((d.kind == dsm::sts::TxtDiscovery::Kind::found) == d.id.empty() ||
        (d.kind == dsm::sts::TxtDiscovery::Kind::invalid) == d.why.empty()) {
        __builtin_trap();
    }
    if (const auto txt = dsm::dns::parse_txt_rdata(std::span<const std::uint8_t>(data, size))) {
        (void)dsm::sts::parse_sts_txt(*txt);
    }
    return 0;
}

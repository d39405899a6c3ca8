// address::parse_recipient and address::normalize_domain on arbitrary bytes
// (SPEC §3: nothing a client sends may crash the daemon). Besides the
// sanitizers, the contracts of core/address/recipient.hpp are checked: a
// domain is a normalised host name and normalising it again changes nothing,
// errors are printable ASCII.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/address/recipient.hpp"
#include "tests/support/fuzz_checks.hpp"

namespace {

using dsm::address::normalize_domain;
using dsm::address::parse_recipient;
using dsm::address::RecipientKind;
using dsm::fuzz::all_printable;
using dsm::fuzz::check;
using dsm::fuzz::is_normalised_host_name;

void check_domain(std::string_view input) {
    const auto d = normalize_domain(input);
    if (!d) {
        check(!d.error().empty() && all_printable(d.error()));
        return;
    }
    check(is_normalised_host_name(*d));
    const auto again = normalize_domain(*d);
    check(again.ok() && *again == *d);
}

void check_recipient(std::string_view input) {
    const auto r = parse_recipient(input);
    switch (r.kind) {
        case RecipientKind::domain: {
            check(r.error.empty());
            check(is_normalised_host_name(r.domain));
            const auto again = normalize_domain(r.domain);
            check(again.ok() && *again == r.domain);
            break;
        }
        case RecipientKind::address_literal:
            check(r.domain.size() >= 3 && r.domain.front() == '[' && r.domain.back() == ']');
            break;
        case RecipientKind::local:
            check(r.domain.empty() && r.error.empty());
            break;
        case RecipientKind::invalid:
            check(r.domain.empty() && !r.error.empty() && all_printable(r.error));
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_recipient(input);
    check_domain(input);
    check(all_printable(dsm::address::printable(input)));
    return 0;
}

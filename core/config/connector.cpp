#include "core/config/connector.hpp"

#include <cstddef>

#include "core/util/ascii.hpp"

namespace dsm::config {
namespace {

namespace ascii = util::ascii;

// Above any suffix: a DNS name has at most 253 octets (RFC 1035 §2.3.4).
constexpr std::size_t kExactSpecificity = 1024;

bool is_address_literal(std::string_view d) {
    return !d.empty() && d.front() == '[';
}

}  // namespace

bool DomainPattern::matches(std::string_view d) const {
    switch (kind) {
        case Kind::any:
            return true;
        case Kind::exact:
            return !is_address_literal(d) && ascii::iequals(d, domain);
        case Kind::suffix:
            // Sub-domains only, any depth: "*.example.com" does not match "example.com".
            return !is_address_literal(d) && d.size() > domain.size() + 1 &&
                   d[d.size() - domain.size() - 1] == '.' &&
                   ascii::iequals(d.substr(d.size() - domain.size()), domain);
    }
    return false;
}

std::size_t DomainPattern::specificity() const {
    switch (kind) {
        case Kind::any:
            return 0;
        case Kind::suffix:
            return 1 + domain.size();
        case Kind::exact:
            return kExactSpecificity;
    }
    return 0;
}

std::string DomainPattern::to_string() const {
    switch (kind) {
        case Kind::any:
            return "*";
        case Kind::suffix:
            return "*." + domain;
        case Kind::exact:
            return domain;
    }
    return "*";
}

}  // namespace dsm::config

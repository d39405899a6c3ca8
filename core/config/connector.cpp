#include "core/config/connector.hpp"

#include <cstddef>

namespace dsm::config {
namespace {

// Above any suffix: a DNS name has at most 253 octets (RFC 1035 §2.3.4).
constexpr std::size_t kExactSpecificity = 1024;

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool is_address_literal(std::string_view d) {
    return !d.empty() && d.front() == '[';
}

}  // namespace

bool DomainPattern::matches(std::string_view d) const {
    switch (kind) {
        case Kind::any:
            return true;
        case Kind::exact:
            return !is_address_literal(d) && iequals(d, domain);
        case Kind::suffix:
            // Sub-domains only, any depth: "*.example.com" does not match "example.com".
            return !is_address_literal(d) && d.size() > domain.size() + 1 &&
                   d[d.size() - domain.size() - 1] == '.' &&
                   iequals(d.substr(d.size() - domain.size()), domain);
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

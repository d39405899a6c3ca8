#include "milter/envelope_args.hpp"

#include "core/address/recipient.hpp"

namespace dsm::milter {

std::string_view envelope_address(char** argv) {
    return argv != nullptr && argv[0] != nullptr ? std::string_view(argv[0]) : std::string_view();
}

std::string sender_domain(std::string_view mail_from) {
    auto sender = address::parse_recipient(mail_from);
    if (sender.kind == address::RecipientKind::domain) {
        return std::move(sender.domain);
    }
    return {};
}

}  // namespace dsm::milter

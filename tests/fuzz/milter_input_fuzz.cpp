// What an SMTP client and the MTA hand to the milter callbacks
// (milter/callbacks.cpp), through the code the callbacks run: the MAIL FROM
// argv (milter/envelope_args.hpp) and the sender domain it selects
// connectors by, each RCPT TO argv through pipeline::check_recipient (SPEC
// §3, with a verdict cache whose lookups answer at once), the reply text for
// smfi_setreply (milter/reply_text.hpp), the decision log line with the
// queue-id macro {i}, the verdict header, and incoming header names against
// the verdict header (milter/header_match.hpp, SPEC §8).
// Input: fields separated by NUL (libmilter hands C strings, which cannot
// hold one): MAIL FROM argument, a header name, the {i} macro, then up to
// eight RCPT TO arguments. Checked besides the sanitizers:
//   - the sender domain is "" or a normalised host name (SPEC §2);
//   - local and invalid recipients get no connector, invalid ones 550 5.1.3
//     with printable text; others a connector and a verdict for their domain;
//   - smfi_setreply text has no control octet and only doubled '%' (a lone
//     one would be read as a printf conversion by libmilter);
//   - the decision log is one line, whatever the recipient and queue id;
//   - the verdict header is folded only with "\n\t" and holds no other
//     control octet;
//   - the header-name match is the case-insensitive equality it claims.
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/address/recipient.hpp"
#include "core/cache/verdict_cache.hpp"
#include "core/config/config.hpp"
#include "core/decision/verdict_header.hpp"
#include "core/pipeline/recipient_check.hpp"
#include "core/util/clock.hpp"
#include "milter/envelope_args.hpp"
#include "milter/header_match.hpp"
#include "milter/reply_text.hpp"
#include "tests/support/fuzz_checks.hpp"

namespace {

using dsm::fuzz::check;
using dsm::fuzz::is_normalised_host_name;
using namespace dsm;
using namespace std::chrono_literals;

config::DomainPattern pattern(config::DomainPattern::Kind kind, std::string domain) {
    config::DomainPattern p;
    p.kind = kind;
    p.domain = std::move(domain);
    return p;
}

// A connector for the recipient domains `kind` `domain`; DANE `dane`, the
// rest as configured by default.
config::Connector connector(std::string name, config::DomainPattern::Kind kind, std::string domain,
                            config::DaneMode dane = config::Connector().dane) {
    config::Connector c;
    c.name = std::move(name);
    c.recipient_domains = {pattern(kind, std::move(domain))};
    c.dane = dane;
    return c;
}

// Connectors of every kind, so that every decision row can be reached.
std::shared_ptr<const config::Config> make_config() {
    using K = config::DomainPattern::Kind;
    using config::DaneMode;
    auto c = std::make_shared<config::Config>();
    c->rcpt.lookup_timeout = 2000ms;
    std::vector<config::Connector> cs = {
        connector("bank", K::suffix, "example", DaneMode::mandatory),
        connector("partner", K::exact, "partner.test", DaneMode::mandatory),
        connector("trial", K::suffix, "org", DaneMode::mandatory),
        connector("skip", K::suffix, "local", DaneMode::none),
        connector("default", K::any, ""),
    };
    cs[0].on_failure = config::OnFailure::reject;
    cs[1].sender_domains = {pattern(K::suffix, "test")};
    cs[1].tags = {"a", "b"};
    cs[2].test_mode = true;
    cs[3].mta_sts = config::StsMode::none;
    c->connectors = config::ConnectorTable(std::move(cs));
    return c;
}

// A verdict picked by the domain's octets: every field value occurs.
verdict::DomainVerdict make_verdict(const std::string& domain) {
    std::size_t h = 0;
    for (const char ch : domain) {
        h = h * 31 + static_cast<unsigned char>(ch);
    }
    verdict::DomainVerdict v;
    v.domain = domain;
    v.dnssec = static_cast<verdict::DnssecField>(h % 5);
    v.dane = static_cast<verdict::DaneField>((h / 5) % 5);
    v.sts = static_cast<verdict::StsField>((h / 25) % 5);
    v.null_mx = (h / 125) % 7 == 0;
    v.nxdomain = (h / 875) % 11 == 0;
    v.mx_insecure = v.dane == verdict::DaneField::none && h % 2 == 0;
    v.dane_why = "TLSA of mx." + domain + " 100% wrong";
    v.sts_why = "policy of " + domain;
    if (v.sts == verdict::StsField::enforce || v.sts == verdict::StsField::testing) {
        v.sts_mx = {"mx." + domain, "*." + domain};
    }
    v.at = std::chrono::system_clock::now();
    v.ttl = 3600s;
    return v;
}

struct World {
    std::shared_ptr<const config::Config> config = make_config();
    cache::VerdictCache cache;
    World()
        : cache(
              [] {
                  config::CacheSettings s;
                  s.store = "memory";
                  s.max_entries = 4096;
                  return s;
              }(),
              [] {
                  config::PrefetchSettings p;
                  p.concurrency = 1;
                  return p;
              }(),
              make_verdict, std::make_shared<util::SystemClock>()) {}
};

World& world() {
    static World* w = new World();  // never destroyed: libFuzzer skips static destructors
    return *w;
}

void check_reply_text(std::string_view text) {
    const std::string safe = milter::reply_safe(text);
    for (std::size_t i = 0; i < safe.size(); ++i) {
        const auto u = static_cast<unsigned char>(safe[i]);
        check(u >= 0x20 && u != 0x7f);
        if (safe[i] == '%') {
            check(i + 1 < safe.size() && safe[i + 1] == '%');
            ++i;
        }
    }
}

void check_header_value(std::string_view v) {
    for (std::size_t i = 0; i < v.size(); ++i) {
        const auto u = static_cast<unsigned char>(v[i]);
        if (u == '\n') {
            check(i > 0 && i + 1 < v.size() && v[i + 1] == '\t');
        } else {
            check(u >= 0x20 || u == '\t');
        }
    }
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

void check_recipient(World& w, std::string_view queue_id, const std::string& sender,
                     std::string arg) {
    char* argv[] = {arg.data(), nullptr};
    const std::string rcpt(milter::envelope_address(argv));
    check(rcpt == arg);
    const auto c = pipeline::check_recipient(*w.config, w.cache, rcpt, sender);
    const auto& d = c.decision;
    check_reply_text(d.reply_text);
    switch (c.recipient.kind) {
        case address::RecipientKind::local:
            check(c.connector == nullptr && d.action == decision::Action::accept);
            return;
        case address::RecipientKind::invalid:
            check(c.connector == nullptr && d.action == decision::Action::reject);
            check(d.reply_code == "550" && d.enhanced_code == "5.1.3");
            for (const char ch : d.reply_text) {
                check(ch >= 0x20 && ch < 0x7f);
            }
            return;
        case address::RecipientKind::domain:
        case address::RecipientKind::address_literal:
            break;
    }
    check(c.connector != nullptr && c.verdict != nullptr);
    check(c.verdict->domain == c.recipient.domain);
    const std::string log =
        decision::format_decision_log({queue_id, rcpt}, *c.connector, *c.verdict, d);
    // One log line, whatever the client put in its address. The queue id is
    // the MTA's own (alphanumeric in Postfix and Sendmail) and is logged as it
    // is, as "ID: " in front of the formatted pairs.
    const std::size_t from = queue_id.empty() ? 0 : queue_id.size() + 2;
    check(log.compare(0, from, queue_id.empty() ? "" : std::string(queue_id) + ": ") == 0);
    check(log.find('\n', from) == std::string::npos && log.find('\r', from) == std::string::npos);
    check_header_value(
        decision::format_verdict_header(w.config->milter.header, *c.connector, *c.verdict, d));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    World& w = world();
    std::vector<std::string> fields;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::size_t pos = 0;
    for (;;) {
        const std::size_t nul = input.find('\0', pos);
        fields.emplace_back(input.substr(pos, nul == std::string_view::npos ? nul : nul - pos));
        if (nul == std::string_view::npos || fields.size() == 11) {
            break;
        }
        pos = nul + 1;
    }
    fields.resize(std::max<std::size_t>(fields.size(), 3));

    // xxfi_envfrom: MAIL FROM's argv; argv may be empty.
    check(milter::envelope_address(nullptr).empty());
    char* none[] = {nullptr};
    check(milter::envelope_address(none).empty());
    char* from_argv[] = {fields[0].data(), nullptr};
    const std::string sender = milter::sender_domain(milter::envelope_address(from_argv));
    check(sender.empty() || is_normalised_host_name(sender));
    const auto parsed = address::parse_recipient(fields[0]);
    check(sender == (parsed.kind == address::RecipientKind::domain ? parsed.domain : ""));

    // xxfi_header: the name, against the configured verdict header and one
    // taken from the input.
    const std::string& ours = w.config->milter.header;
    check(milter::is_verdict_header(fields[1].c_str(), ours) ==
          equal_ignoring_case(fields[1], ours));
    check(!milter::is_verdict_header(nullptr, ours));
    check(milter::is_verdict_header(fields[1].c_str(), fields[1]));

    // xxfi_envrcpt, with the {i} macro for the log.
    for (std::size_t i = 3; i < fields.size(); ++i) {
        check_recipient(w, fields[2], sender, fields[i]);
    }
    check_reply_text(input);
    return 0;
}

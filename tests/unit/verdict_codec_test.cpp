// core/cache/store.cpp: the verdict record (encode_verdict/decode_verdict)
// and the parsing of [cache] store specs by make_store.
#include <boost/test/unit_test.hpp>

#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "core/cache/store.hpp"
#include "core/decision/decision.hpp"
#include "core/decision/verdict_header.hpp"
#include "tests/support/stored_verdicts.hpp"

using namespace dsm;
using cache::decode_verdict;
using cache::encode_verdict;
using cache::StoredVerdict;
using dsm::test::check_same;
using verdict::DaneField;
using verdict::Destination;
using verdict::DnssecField;
using verdict::StsField;

namespace {

StoredVerdict sample_verdict() {
    StoredVerdict s;
    auto& v = s.verdict;
    v.domain = "example.test";
    v.destination = Destination::dns_name;
    v.dnssec = DnssecField::secure;
    v.dane = DaneField::pass;
    v.sts = StsField::enforce;
    v.null_mx = false;
    v.nxdomain = false;
    v.mx_insecure = true;
    v.dane_why = "TLSA records for every MX";
    v.sts_why = "policy id 20240101";
    // Sub-second parts on purpose: the round trip must be exact.
    v.at =
        std::chrono::system_clock::time_point(std::chrono::nanoseconds(1'712'345'678'123'456'789));
    v.ttl = std::chrono::seconds(3600);
    s.expires = v.at + std::chrono::seconds(3600) + std::chrono::nanoseconds(7);
    return s;
}

StoredVerdict round_trip(const StoredVerdict& in) {
    const std::string text = encode_verdict(in);
    BOOST_TEST(text.find('\n') == std::string::npos);
    BOOST_TEST(text.find('\0') == std::string::npos);
    auto out = decode_verdict(text);
    BOOST_TEST_REQUIRE(out.has_value(), "decode failed: " << text);
    check_same(in, *out);
    return *out;
}

// Each of `values` in `field` comes back as it went in.
template <typename Field>
void round_trips_every_value(Field verdict::DomainVerdict::*field,
                             std::initializer_list<Field> values) {
    for (const auto f : values) {
        auto s = sample_verdict();
        s.verdict.*field = f;
        const Field back = round_trip(s).verdict.*field;
        BOOST_TEST(back == f);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(verdict_codec)

BOOST_AUTO_TEST_CASE(record_starts_with_version) {
    const std::string text = encode_verdict(sample_verdict());
    BOOST_TEST(text.rfind("v2\texample.test\t", 0) == 0U);
}

// The policy map answers "secure match=" from the stored patterns: a
// verdict from the store (restart, fleet) must carry them (SPEC §6, §7).
BOOST_AUTO_TEST_CASE(round_trip_sts_mx_patterns) {
    auto s = sample_verdict();
    s.verdict.sts = StsField::enforce;
    for (const std::vector<std::string>& mx :
         {std::vector<std::string>{},
          {"mx.example.test"},
          {"mx1.example.test", "*.mx.example.test", "backup.example.net"}}) {
        s.verdict.sts_mx = mx;
        const auto out = round_trip(s);
        BOOST_TEST(out.verdict.sts_mx == mx, boost::test_tools::per_element());
    }
    // An empty pattern between two blanks is no record this writes.
    s.verdict.sts_mx = {"a.test", "b.test"};
    std::string t = encode_verdict(s);
    const auto at = t.find("a.test b.test");
    BOOST_TEST_REQUIRE(at != std::string::npos);
    BOOST_TEST(!decode_verdict(t.replace(at, 13, "a.test  b.test")).has_value());
}

BOOST_AUTO_TEST_CASE(round_trip_defaults) {
    round_trip(StoredVerdict{});
}

BOOST_AUTO_TEST_CASE(round_trip_every_dnssec_value) {
    round_trips_every_value(&verdict::DomainVerdict::dnssec,
                            {DnssecField::secure, DnssecField::insecure, DnssecField::bogus,
                             DnssecField::error, DnssecField::skipped, DnssecField::pending});
}

BOOST_AUTO_TEST_CASE(round_trip_every_dane_value) {
    round_trips_every_value(&verdict::DomainVerdict::dane,
                            {DaneField::pass, DaneField::unusable, DaneField::fail, DaneField::none,
                             DaneField::error, DaneField::skipped, DaneField::pending});
}

BOOST_AUTO_TEST_CASE(round_trip_every_sts_value) {
    round_trips_every_value(&verdict::DomainVerdict::sts,
                            {StsField::enforce, StsField::testing, StsField::none, StsField::fail,
                             StsField::error, StsField::skipped, StsField::pending});
}

BOOST_AUTO_TEST_CASE(round_trip_destination_and_flags) {
    auto s = sample_verdict();
    s.verdict = verdict::address_literal_verdict("[192.0.2.1]");
    s.verdict.null_mx = true;
    s.verdict.nxdomain = true;
    s.verdict.mx_insecure = false;
    BOOST_TEST((round_trip(s).verdict.destination == Destination::address_literal));
    for (int bits = 0; bits < 8; ++bits) {
        auto t = sample_verdict();
        t.verdict.null_mx = (bits & 1) != 0;
        t.verdict.nxdomain = (bits & 2) != 0;
        t.verdict.mx_insecure = (bits & 4) != 0;
        round_trip(t);
    }
}

BOOST_AUTO_TEST_CASE(round_trip_odd_strings) {
    const std::vector<std::string> odd = {
        "",
        "\t",
        "a\tb\tc",
        "line\nbreak\r\n",
        "back\\slash\\t not a tab",
        "\\",
        "ends with backslash\\",
        std::string("nul\0inside", 10),
        "unicode: \xC3\xA9t\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\xA7",
        "xn--bcher-kva.test",
        std::string(5000, 'x'),
    };
    for (const auto& s : odd) {
        auto v = sample_verdict();
        v.verdict.domain = s;
        v.verdict.dane_why = s;
        v.verdict.dane_why += '\t';
        v.verdict.dane_why += s;
        v.verdict.sts_why = s;
        round_trip(v);
    }
}

// SPEC §6: error verdicts are stored too (with error_ttl), and a restart or
// a fleet member must answer from the record exactly as the milter that
// computed it: same decision row, action, reply and result type under every
// connector mode, same header and log line. Realistic records of each kind:
// a bogus domain, a SERVFAIL/timeout `error`, an MTA-STS `error`.
BOOST_AUTO_TEST_CASE(error_verdicts_decide_the_same_after_a_round_trip) {
    const auto at =
        std::chrono::system_clock::time_point(std::chrono::nanoseconds(1'712'345'678'123'456'789));
    std::vector<StoredVerdict> errors(3);
    {
        auto& v = errors[0].verdict;  // bogus.test: TLSA bogus (RFC 7672 §2.1.1)
        v.domain = "bogus.test";
        v.dnssec = DnssecField::bogus;
        v.dane = DaneField::error;
        v.sts = StsField::none;
        v.dane_why = "DNSSEC validation of the TLSA records of mx.bogus.test failed (bogus)";
    }
    {
        auto& v = errors[1].verdict;  // noanswer.test: the lookups time out
        v.domain = "noanswer.test";
        v.dnssec = DnssecField::error;
        v.dane = DaneField::error;
        v.sts = StsField::pending;
        v.dane_why = "the MX lookup of noanswer.test failed: timeout after 1000 ms";
    }
    {
        auto& v = errors[2].verdict;  // sts-404.test: TXT present, no policy
        v.domain = "sts-404.test";
        v.dnssec = DnssecField::secure;
        v.dane = DaneField::none;
        v.sts = StsField::error;
        v.mx_insecure = false;
        v.dane_why = "no MX host of sts-404.test publishes TLSA records";
        v.sts_why = "fetching https://mta-sts.sts-404.test/.well-known/mta-sts.txt: HTTP 404";
    }
    for (auto& s : errors) {
        s.verdict.at = at;
        s.verdict.ttl = std::chrono::seconds(300);
        s.expires = at + std::chrono::seconds(60);  // error_ttl
        BOOST_TEST_REQUIRE(s.verdict.is_error());
    }
    for (const auto& in : errors) {
        BOOST_TEST_CONTEXT(in.verdict.domain) {
            const auto out = round_trip(in);
            BOOST_TEST(out.verdict.is_error());
            for (const auto dane : {config::DaneMode::opportunistic, config::DaneMode::mandatory,
                                    config::DaneMode::none}) {
                for (const auto sts : {config::StsMode::opportunistic, config::StsMode::none}) {
                    config::Connector c;
                    c.name = "partners";
                    c.dane = dane;
                    c.mta_sts = sts;
                    const auto before = decision::decide(c, in.verdict);
                    const auto after = decision::decide(c, out.verdict);
                    BOOST_TEST(after.row == before.row);
                    BOOST_TEST(after.action == before.action);
                    BOOST_TEST(after.require == before.require);
                    BOOST_TEST(after.result == before.result);
                    BOOST_TEST(after.reply_code == before.reply_code);
                    BOOST_TEST(after.enhanced_code == before.enhanced_code);
                    BOOST_TEST(after.reply_text == before.reply_text);
                    BOOST_TEST(decision::format_verdict_header("X-DANE-STS-Verdict", c, out.verdict,
                                                               after) ==
                               decision::format_verdict_header("X-DANE-STS-Verdict", c, in.verdict,
                                                               before));
                    const std::string rcpt = "user@" + in.verdict.domain;
                    const decision::LogContext ctx{"4XyZ", rcpt};
                    BOOST_TEST(decision::format_decision_log(ctx, c, out.verdict, after) ==
                               decision::format_decision_log(ctx, c, in.verdict, before));
                }
            }
        }
    }
    // The bogus domain under a DANE connector defers (SPEC §4 row 3): what a
    // restart must keep answering.
    config::Connector dane_only;
    dane_only.name = "partners";
    dane_only.dane = config::DaneMode::opportunistic;
    dane_only.mta_sts = config::StsMode::none;
    const auto d = decision::decide(dane_only, decode_verdict(encode_verdict(errors[0]))->verdict);
    BOOST_TEST(d.action == decision::Action::defer);
    BOOST_TEST(d.result == decision::ResultType::dnssec_invalid);
}

BOOST_AUTO_TEST_CASE(round_trip_extreme_numbers) {
    auto s = sample_verdict();
    s.verdict.ttl = std::chrono::seconds(0);
    s.verdict.at = std::chrono::system_clock::time_point{};
    s.expires = std::chrono::system_clock::time_point(std::chrono::nanoseconds(-1));
    round_trip(s);
    s.verdict.ttl = std::chrono::seconds(31557600);
    s.expires = std::chrono::system_clock::time_point(
        std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::max()));
    round_trip(s);
}

BOOST_AUTO_TEST_CASE(unknown_versions_rejected) {
    std::string text = encode_verdict(sample_verdict());
    for (const std::string v : {"v1", "v3", "v0", "V2", "", "v2 ", "v20"}) {
        std::string t = v + text.substr(2);
        BOOST_TEST(!decode_verdict(t).has_value(), "version " << v);
    }
}

BOOST_AUTO_TEST_CASE(unknown_enum_words_rejected) {
    const std::string text = encode_verdict(sample_verdict());
    const auto replace = [&](const std::string& from, const std::string& to) {
        std::string t = text;
        const auto at = t.find("\t" + from + "\t");
        BOOST_TEST_REQUIRE(at != std::string::npos);
        t.replace(at + 1, from.size(), to);
        return t;
    };
    BOOST_TEST(!decode_verdict(replace("secure", "Secure")).has_value());
    BOOST_TEST(!decode_verdict(replace("secure", "validated")).has_value());
    BOOST_TEST(!decode_verdict(replace("pass", "ok")).has_value());
    BOOST_TEST(!decode_verdict(replace("enforce", "")).has_value());
    BOOST_TEST(!decode_verdict(replace("dns_name", "literal")).has_value());
}

BOOST_AUTO_TEST_CASE(malformed_fields_rejected) {
    const std::string text = encode_verdict(sample_verdict());
    BOOST_TEST(decode_verdict(text).has_value());
    BOOST_TEST(!decode_verdict(text + "\t").has_value());       // one field too many
    BOOST_TEST(!decode_verdict(text + "\textra").has_value());  // one field too many
    BOOST_TEST(!decode_verdict(text.substr(0, text.rfind('\t'))).has_value());  // one too few
    BOOST_TEST(!decode_verdict(text + "x").has_value());   // expires not a number
    BOOST_TEST(!decode_verdict(text + "\n").has_value());  // trailing line end
    auto s = sample_verdict();
    s.verdict.domain = "d";
    std::string t = encode_verdict(s);
    BOOST_TEST(!decode_verdict(std::string(t).replace(3, 1, "d\\q")).has_value());  // bad escape
    BOOST_TEST(!decode_verdict(std::string(t).replace(3, 1, "d\\")).has_value());   // lone escape
    BOOST_TEST(!decode_verdict(std::string(t).replace(3, 1, "d\n")).has_value());   // raw line end
    // Booleans are exactly 0 or 1.
    const auto flags = t.find("\t0\t0\t1\t");
    BOOST_TEST_REQUIRE(flags != std::string::npos);
    BOOST_TEST(!decode_verdict(std::string(t).replace(flags + 1, 1, "2")).has_value());
    BOOST_TEST(!decode_verdict(std::string(t).replace(flags + 1, 1, "true")).has_value());
    // Numbers: no sign, spaces or hex.
    const auto ttl = t.find("\t3600\t");
    BOOST_TEST_REQUIRE(ttl != std::string::npos);
    BOOST_TEST(!decode_verdict(std::string(t).replace(ttl + 1, 4, "+3600")).has_value());
    BOOST_TEST(!decode_verdict(std::string(t).replace(ttl + 1, 4, " 3600")).has_value());
    BOOST_TEST(!decode_verdict(std::string(t).replace(ttl + 1, 4, "0x10")).has_value());
    BOOST_TEST(!decode_verdict(std::string(t).replace(ttl + 1, 4, "03600")).has_value());
    BOOST_TEST(!decode_verdict(std::string(t).replace(ttl + 1, 4, "-0")).has_value());
    BOOST_TEST(decode_verdict(std::string(t).replace(ttl + 1, 4, "-5")).has_value());
    BOOST_TEST(
        !decode_verdict(std::string(t).replace(ttl + 1, 4, "99999999999999999999")).has_value());
}

BOOST_AUTO_TEST_CASE(garbage_never_crashes) {
    const std::vector<std::string> garbage = {"",
                                              "\t",
                                              "v2",
                                              "v2\t",
                                              std::string(14, '\t'),
                                              "v2" + std::string(14, '\t'),
                                              R"(\\\)",
                                              "SQLite format 3"};
    for (const auto& g : garbage) {
        BOOST_TEST(!decode_verdict(g).has_value());
    }
    // Random bytes, and random mutations of a valid record.
    std::mt19937 rng(20240229);
    std::uniform_int_distribution<int> byte(0, 255);
    const std::string valid = encode_verdict(sample_verdict());
    for (int i = 0; i < 5000; ++i) {
        std::string g(static_cast<std::size_t>(byte(rng)), '\0');
        for (auto& c : g) {
            c = static_cast<char>(byte(rng));
        }
        (void)decode_verdict(g);
        std::string m = valid;
        for (int k = 0; k < 3; ++k) {
            m[static_cast<std::size_t>(rng() % m.size())] = static_cast<char>(byte(rng));
        }
        if (auto d = decode_verdict(m)) {
            // Whatever survives a mutation must re-encode to what was read.
            BOOST_TEST(encode_verdict(*d) == m);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(store_spec)

BOOST_AUTO_TEST_CASE(memory_is_no_store) {
    auto s = cache::make_store("memory");
    BOOST_TEST_REQUIRE(s.ok());
    BOOST_TEST(s.value() == nullptr);
}

BOOST_AUTO_TEST_CASE(unparsable_specs_are_errors) {
    for (const std::string spec : {"",
                                   "Memory",
                                   "memory ",
                                   "sqlite:",
                                   "sqlite:relative/path",
                                   "sqlite:/dir/",
                                   "sqlite",
                                   "redis://",
                                   "redis://:6379",
                                   "redis://host:",
                                   "redis://host:0",
                                   "redis://host:65536",
                                   "redis://host:-1",
                                   "redis://host:port",
                                   "redis://host:6379/",
                                   "redis://host:6379/x",
                                   "redis://host:6379/-1",
                                   "redis://user:pw@host:6379",
                                   "redis://[::1",
                                   "redis://[]:6379",
                                   "redis://[::1]x",
                                   "redis://host/0?opt=1",
                                   "redis:host:6379",
                                   "rediss://host:6379",
                                   "postgres://x"}) {
        auto s = cache::make_store(spec);
        BOOST_TEST(!s.ok(), "spec \"" << spec << "\" accepted");
        if (!s.ok()) {
            BOOST_TEST(s.error().find("cache store") != std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

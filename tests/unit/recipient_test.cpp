// SPEC §3, row by row: envelope recipient → recipient domain.
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

#include "core/address/recipient.hpp"

using dsm::address::normalize_domain;
using dsm::address::parse_recipient;
using dsm::address::Recipient;
using dsm::address::RecipientKind;

namespace {

void check(std::string_view input, RecipientKind kind, std::string_view domain) {
    const Recipient r = parse_recipient(input);
    BOOST_TEST_CONTEXT("input \"" << dsm::address::printable(input) << "\" error: " << r.error) {
        BOOST_TEST(to_string(r.kind) == to_string(kind));
        BOOST_TEST(r.domain == domain);
        BOOST_TEST(r.error.empty() == (kind != RecipientKind::invalid));
    }
}

// Reasons go into SMTP replies: printable ASCII only, no CR/LF.
bool printable_ascii(const std::string& s) {
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

Recipient invalid(std::string_view input) {
    Recipient r = parse_recipient(input);
    BOOST_TEST(to_string(r.kind) == "invalid");
    BOOST_TEST(!r.error.empty());
    BOOST_TEST(printable_ascii(r.error));
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recipient)

BOOST_AUTO_TEST_CASE(plain) {
    check("<user@example.com>", RecipientKind::domain, "example.com");
    BOOST_TEST(parse_recipient("<user@example.com>").local_part == "user");
    check("user@example.com", RecipientKind::domain, "example.com");  // without brackets
    check("  <user@example.com>\r\n", RecipientKind::domain, "example.com");
    check("< user@example.com >", RecipientKind::domain, "example.com");
    check("<user@a-b.c0.example>", RecipientKind::domain, "a-b.c0.example");
}

BOOST_AUTO_TEST_CASE(upper_case_is_lowered) {
    check("<User@Example.COM>", RecipientKind::domain, "example.com");
    BOOST_TEST(parse_recipient("<User@Example.COM>").local_part == "User");
}

BOOST_AUTO_TEST_CASE(one_trailing_dot_dropped) {
    check("<user@example.com.>", RecipientKind::domain, "example.com");
    BOOST_TEST(invalid("<user@example.com..>").error.find("empty label") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(source_route_dropped) {
    check("<@a.example,@b.example:user@example.com>", RecipientKind::domain, "example.com");
    check("<@relay.example:user@Example.com>", RecipientKind::domain, "example.com");
    check("<@[IPv6:2001:db8::1]:user@example.com>", RecipientKind::domain, "example.com");
    BOOST_TEST(parse_recipient("<@a.example,@b.example:user@example.com>").local_part == "user");
    invalid("<@example.com>");  // no local part, no ':' ending a route
    invalid("<@a.example:>");   // nothing after the route
}

BOOST_AUTO_TEST_CASE(quoted_local_part_may_hold_at) {
    check("<\"a@b\"@example.com>", RecipientKind::domain, "example.com");
    BOOST_TEST(parse_recipient("<\"a@b\"@example.com>").local_part == "\"a@b\"");
    check(R"(<"a\"@b"@example.com>)", RecipientKind::domain, "example.com");  // quoted-pair
    check("<\"a@b\">", RecipientKind::local, "");  // the only '@' is quoted
    invalid("<\"a@example.com>");                  // unterminated quoted string
}

BOOST_AUTO_TEST_CASE(local_recipients) {
    check("<postmaster>", RecipientKind::local, "");
    BOOST_TEST(parse_recipient("<postmaster>").local_part == "postmaster");
    check("<Postmaster>", RecipientKind::local, "");
    check("postmaster", RecipientKind::local, "");
    check("<>", RecipientKind::local, "");
    check("", RecipientKind::local, "");
}

BOOST_AUTO_TEST_CASE(empty_domain_is_invalid) {
    // SPEC §3: an empty label is never looked up and never local.
    for (const char* in : {"<user@>", "<u@>", "user@", "<@a,@b:u@>", "<\"a@b\"@>"}) {
        BOOST_TEST_CONTEXT(in) {
            BOOST_TEST(invalid(in).error.find("empty domain") != std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(address_literals) {
    check("<user@[192.0.2.1]>", RecipientKind::address_literal, "[192.0.2.1]");
    check("<user@[IPv6:2001:DB8::1]>", RecipientKind::address_literal, "[ipv6:2001:db8::1]");
    check("<user@[ipv6:::ffff:192.0.2.1]>", RecipientKind::address_literal,
          "[ipv6:::ffff:192.0.2.1]");
    BOOST_TEST(parse_recipient("<user@[192.0.2.1]>").local_part == "user");
    invalid("<user@[192.0.2.256]>");
    invalid("<user@[192.0.2]>");
    invalid("<user@[IPv6:2001:db8::g]>");
    invalid("<user@[2001:db8::1]>");  // IPv6 needs its tag, RFC 5321 §4.1.3
    invalid("<user@[x-tag:abc]>");    // no general literal is routable
    invalid("<user@[192.0.2.1>");
    invalid("<user@[]>");
}

BOOST_AUTO_TEST_CASE(idn_u_labels_become_a_labels) {
    check("<user@bücher.example>", RecipientKind::domain, "xn--bcher-kva.example");
    check("<user@BÜCHER.example>", RecipientKind::domain, "xn--bcher-kva.example");
    // Non-transitional (IDNA2008): ß stays, it is not mapped to "ss".
    check("<user@faß.de>", RecipientKind::domain, "xn--fa-hia.de");
    check("<user@例え.テスト>", RecipientKind::domain, "xn--r8jz45g.xn--zckzah");
    check("<user@xn--bcher-kva.example>", RecipientKind::domain, "xn--bcher-kva.example");
    invalid("<user@bücher\xff.example>");  // not UTF-8
}

BOOST_AUTO_TEST_CASE(too_long_label) {
    const std::string l63(63, 'a');
    check("<u@" + l63 + ".example>", RecipientKind::domain, l63 + ".example");
    const Recipient r = invalid("<u@" + std::string(64, 'a') + ".example>");
    BOOST_TEST(r.error.find("63") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(too_long_name) {
    // 4 labels of 63 + 3 dots = 255 octets; 253 is the limit.
    std::string name;
    for (int i = 0; i < 4; ++i) {
        name += (i > 0 ? "." : "") + std::string(63, static_cast<char>('a' + i));
    }
    const Recipient r = invalid("<u@" + name + ">");
    BOOST_TEST(r.error.find("253") != std::string::npos);
    const std::string max = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                            std::string(63, 'c') + "." + std::string(61, 'd');
    BOOST_TEST(max.size() == 253u);
    check("<u@" + max + ">", RecipientKind::domain, max);
    check("<u@" + max + ".>", RecipientKind::domain, max);
}

BOOST_AUTO_TEST_CASE(empty_label) {
    for (const char* in : {"<u@example..com>", "<u@.example.com>", "<u@.>", "<u@..>"}) {
        BOOST_TEST_CONTEXT(in) {
            BOOST_TEST(invalid(in).error.find("empty") != std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(bad_characters) {
    BOOST_TEST(invalid("<u@exa_mple.com>").error.find("'_'") != std::string::npos);
    invalid("<u@exa mple.com>");
    invalid("<u@example.com;rm>");
    invalid("<u@-example.com>");
    invalid("<u@example-.com>");
    invalid("<u@exa\"mple.com>");
    invalid(std::string("<u@exa\0mple.com>", 16));
    BOOST_TEST(invalid("<u@exa\r\nmple.com>").error.find("\\x0d") != std::string::npos);
    invalid("<user@example.com");  // unbalanced brackets
    invalid("user@example.com>");
    check("<u@123.456>", RecipientKind::domain, "123.456");  // all-numeric TLD accepted
}

BOOST_AUTO_TEST_CASE(huge_input) {
    const Recipient r = invalid("<u@" + std::string(1 << 20, 'a') + ".example>");
    BOOST_TEST(r.error.size() < 200u);
    invalid(std::string(1025, '@'));
    // Just under the cap: parsed, the long label is what is wrong.
    const Recipient r2 = invalid("<u@" + std::string(1000, 'a') + ">");
    BOOST_TEST(r2.error.size() < 300u);
    // Many '@', quotes and brackets stay linear and never crash.
    parse_recipient(std::string(1000, '"'));
    parse_recipient(std::string(1000, '['));
    parse_recipient("@" + std::string(999, ','));
}

BOOST_AUTO_TEST_CASE(garbage_bytes) {
    std::string s;
    unsigned x = 12345;
    for (int round = 0; round < 2000; ++round) {
        s.clear();
        const int len = static_cast<int>(x % 80);
        for (int i = 0; i < len; ++i) {
            x = x * 1103515245u + 12345u;
            using namespace std::string_view_literals;
            constexpr std::string_view alphabet = "@<>\"\\[]:,.aZ-_\xc3\xbc\xff\x00 "sv;
            s += alphabet[(x >> 16) % alphabet.size()];
        }
        const Recipient r = parse_recipient(s);
        BOOST_TEST_CONTEXT(dsm::address::printable(s)) {
            BOOST_TEST(printable_ascii(r.error));
            if (r.kind == RecipientKind::domain) {
                BOOST_TEST(normalize_domain(r.domain).ok());
                BOOST_TEST(*normalize_domain(r.domain) == r.domain);
            }
        }
    }
    for (int b = 0; b < 256; ++b) {
        parse_recipient(std::string("<u@a") + static_cast<char>(b) + "b.example>");
    }
}

BOOST_AUTO_TEST_CASE(normalize_domain_for_config) {
    BOOST_TEST(*normalize_domain("Example.COM.") == "example.com");
    BOOST_TEST(*normalize_domain("test") == "test");
    BOOST_TEST(*normalize_domain("Bücher.Example") == "xn--bcher-kva.example");
    BOOST_TEST(!normalize_domain("").ok());
    BOOST_TEST(!normalize_domain(".").ok());
    BOOST_TEST(!normalize_domain("*.example.com").ok());
    BOOST_TEST(normalize_domain("a..b").error() == "empty label");
}

BOOST_AUTO_TEST_CASE(kind_names) {
    BOOST_TEST(to_string(RecipientKind::local) == "local");
    BOOST_TEST(to_string(RecipientKind::domain) == "domain");
    BOOST_TEST(to_string(RecipientKind::address_literal) == "address_literal");
    BOOST_TEST(to_string(RecipientKind::invalid) == "invalid");
}

BOOST_AUTO_TEST_SUITE_END()

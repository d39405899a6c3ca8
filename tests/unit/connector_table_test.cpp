// SPEC §2 connector selection.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/config/connector_table.hpp"

using namespace dsm::config;

namespace {

DomainPattern pattern(const std::string& text) {
    if (text == "*") {
        return {DomainPattern::Kind::any, {}};
    }
    if (text.rfind("*.", 0) == 0) {
        return {DomainPattern::Kind::suffix, text.substr(2)};
    }
    return {DomainPattern::Kind::exact, text};
}

Connector connector(const std::string& name, const std::vector<std::string>& rcpt,
                    const std::vector<std::string>& senders = {}) {
    Connector c;
    c.name = name;
    for (const auto& p : rcpt) {
        c.recipient_domains.push_back(pattern(p));
    }
    for (const auto& p : senders) {
        c.sender_domains.push_back(pattern(p));
    }
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(connector_table)

BOOST_AUTO_TEST_CASE(pattern_matching) {
    const DomainPattern exact = pattern("example.com");
    BOOST_TEST(exact.matches("example.com"));
    BOOST_TEST(!exact.matches("a.example.com"));
    BOOST_TEST(!exact.matches("xexample.com"));

    const DomainPattern suffix = pattern("*.example.com");
    BOOST_TEST(!suffix.matches("example.com"));  // sub-domains only
    BOOST_TEST(suffix.matches("a.example.com"));
    BOOST_TEST(suffix.matches("a.b.c.example.com"));  // any depth
    BOOST_TEST(!suffix.matches("aexample.com"));
    BOOST_TEST(!suffix.matches(".example.com.x"));

    const DomainPattern any = pattern("*");
    BOOST_TEST(any.matches("example.com"));
    BOOST_TEST(any.matches("[192.0.2.1]"));

    BOOST_TEST(exact.to_string() == "example.com");
    BOOST_TEST(suffix.to_string() == "*.example.com");
    BOOST_TEST(any.to_string() == "*");
}

BOOST_AUTO_TEST_CASE(specificity_order) {
    BOOST_TEST(pattern("example.com").specificity() > pattern("*.a.example.com").specificity());
    BOOST_TEST(pattern("a.b").specificity() >
               pattern("*." + std::string(240, 'x') + ".example").specificity());
    BOOST_TEST(pattern("*.a.example.com").specificity() > pattern("*.example.com").specificity());
    BOOST_TEST(pattern("*.example.com").specificity() > pattern("*").specificity());
}

BOOST_AUTO_TEST_CASE(most_specific_wins_regardless_of_order) {
    const ConnectorTable t({connector("all", {"*"}), connector("short", {"*.example.com"}),
                            connector("long", {"*.eu.example.com"}),
                            connector("exact", {"mx.eu.example.com"})});
    BOOST_TEST(t.select("mx.eu.example.com", "").name == "exact");
    BOOST_TEST(t.select("a.eu.example.com", "").name == "long");
    BOOST_TEST(t.select("eu.example.com", "").name == "short");
    BOOST_TEST(t.select("example.com", "").name == "all");
    BOOST_TEST(t.select("other.test", "").name == "all");

    // Reversed file order, same answers.
    const ConnectorTable r({connector("exact", {"mx.eu.example.com"}),
                            connector("long", {"*.eu.example.com"}),
                            connector("short", {"*.example.com"}), connector("all", {"*"})});
    BOOST_TEST(r.select("mx.eu.example.com", "").name == "exact");
    BOOST_TEST(r.select("a.eu.example.com", "").name == "long");
    BOOST_TEST(r.select("eu.example.com", "").name == "short");
    BOOST_TEST(r.select("example.com", "").name == "all");
}

BOOST_AUTO_TEST_CASE(best_pattern_of_each_connector_counts) {
    const ConnectorTable t(
        {connector("broad", {"*", "partner.example"}), connector("sub", {"*.partner.example"})});
    BOOST_TEST(t.select("partner.example", "").name == "broad");
    BOOST_TEST(t.select("mx.partner.example", "").name == "sub");
}

BOOST_AUTO_TEST_CASE(ties_go_to_first_in_file) {
    const ConnectorTable t({connector("first", {"example.com"}),
                            connector("second", {"example.com"}), connector("s1", {"*.test"}),
                            connector("s2", {"*.test"}), connector("a1", {"*"}),
                            connector("a2", {"*"})});
    BOOST_TEST(t.select("example.com", "").name == "first");
    BOOST_TEST(t.select("a.test", "").name == "s1");
    BOOST_TEST(t.select("other.example", "").name == "a1");
}

BOOST_AUTO_TEST_CASE(sender_domains_restrict) {
    const ConnectorTable t({connector("default", {"*"}),
                            connector("reports", {"*"}, {"tlsrpt.example"}),
                            connector("partner-eu", {"partner.example"}, {"*.eu.example"}),
                            connector("partner", {"partner.example"})});
    BOOST_TEST(t.select("x.test", "tlsrpt.example").name == "default");  // tie: first wins
    BOOST_TEST(t.select("partner.example", "sales.eu.example").name == "partner-eu");
    BOOST_TEST(t.select("partner.example", "eu.example").name == "partner");
    BOOST_TEST(t.select("partner.example", "other.example").name == "partner");
    BOOST_TEST(t.select("partner.example", "").name == "partner");  // null sender <>
    BOOST_TEST(t.select("partner.example").name == "partner");      // policy map: no sender

    const ConnectorTable only({connector("reports", {"*"}, {"tlsrpt.example"})});
    BOOST_TEST(only.select("x.test", "tlsrpt.example").name == "reports");
    BOOST_TEST(only.select("x.test", "other.example").name == "default");
    BOOST_TEST(only.select("x.test").name == "default");
}

BOOST_AUTO_TEST_CASE(implicit_default) {
    const ConnectorTable empty;
    const Connector& d = empty.select("example.com", "sender.example");
    BOOST_TEST(d.name == "default");
    BOOST_TEST(d.recipient_domains.size() == 1u);
    BOOST_TEST(d.recipient_domains[0].to_string() == "*");
    BOOST_TEST((d.dane == DaneMode::opportunistic));
    BOOST_TEST((d.mta_sts == StsMode::opportunistic));
    BOOST_TEST(empty.connectors().size() == 1u);
    BOOST_TEST(empty.connectors()[0].name == "default");

    // Connectors that cover only some domains: the rest falls to the default.
    const ConnectorTable partial({connector("partners", {"partner.example"})});
    BOOST_TEST(partial.select("partner.example", "").name == "partners");
    BOOST_TEST(partial.select("other.example", "").name == "default");
    BOOST_TEST(partial.connectors().size() == 1u);
    BOOST_TEST(partial.implicit_default().name == "default");

    // A file's own catch-all replaces it.
    Connector mine = connector("default", {"*"});
    mine.dane = DaneMode::none;
    const ConnectorTable own({mine});
    BOOST_TEST((own.select("other.example", "").dane == DaneMode::none));
}

BOOST_AUTO_TEST_CASE(address_literal_matched_only_by_any) {
    const ConnectorTable t({connector("exact", {"192.0.2.1"}), connector("suffix", {"*.2.1"}),
                            connector("all", {"*"})});
    BOOST_TEST(t.select("[192.0.2.1]", "").name == "all");
    BOOST_TEST(t.select("[ipv6:2001:db8::1]", "").name == "all");

    const ConnectorTable none({connector("exact", {"192.0.2.1"})});
    BOOST_TEST(none.select("[192.0.2.1]", "").name == "default");
}

BOOST_AUTO_TEST_SUITE_END()

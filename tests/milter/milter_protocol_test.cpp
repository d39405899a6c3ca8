// The built binary over the milter protocol, against the real DNSSEC test bed
// (knot on 127.0.10.53 serving the zones of tests/testbed/dns).
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <sys/wait.h>

#include "tests/support/milter_client.hpp"
#include "tests/support/milter_process.hpp"

using namespace dsm::test;
using namespace std::chrono_literals;

namespace {

const char* kConfig = R"(
[milter]
socket = inet:@PORT@@127.0.0.1
log_level = debug
log_target = file:@LOG@

[resolver]
trust_anchor_file = @TESTBED@/dns/test.ds
stub_zones = test.=127.0.10.53
timeout_ms = 4000

[cache]
store = memory

[rcpt]
lookup_timeout_ms = 1500

[connector.default]
recipient_domains = *
mode = opportunistic

[connector.partners]
recipient_domains = dane-ok.test, notlsa.test, noanswer.test, dane-unusable.test, implicit.test
mode = mandatory
tags = partner, eu

[connector.strict]
recipient_domains = insecure.test
mode = mandatory
on_failure = reject

[connector.trial]
recipient_domains = partner.test, *.partner.test
mode = mandatory
test_mode = yes
)";

bool contains(const std::string& s, const std::string& what) {
    return s.find(what) != std::string::npos;
}

struct Milter {
    MilterProcess process{DSM_MILTER_BINARY, kConfig};

    // SIGTERM stops it cleanly, and (in the sanitizer build) without reports.
    ~Milter() {
        const int status = process.stop();
        BOOST_TEST(WIFEXITED(status));
        BOOST_TEST(WEXITSTATUS(status) == 0);
        BOOST_TEST(!contains(process.log(), "Sanitizer"));
        BOOST_TEST(!contains(process.log(), "runtime error:"));
    }
};


MilterClient open_session(const MilterProcess& p, const std::string& sender) {
    MilterClient c(p.port(), 5000ms);
    c.negotiate();
    BOOST_REQUIRE(c.connect("client.test", "127.0.0.1").code == 'c');
    BOOST_REQUIRE(c.helo("client.test").code == 'c');
    c.macros('M', {{"i", "4QUEUEID"}});
    BOOST_REQUIRE(c.mail(sender).code == 'c');
    return c;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(milter_protocol, Milter)

BOOST_AUTO_TEST_CASE(negotiation_skips_what_is_not_needed) {
    MilterClient c(process.port(), 5000ms);
    auto [actions, steps] = c.negotiate();
    BOOST_TEST((actions & 0x01) != 0U);  // SMFIF_ADDHDRS
    BOOST_TEST((actions & 0x10) != 0U);  // SMFIF_CHGHDRS
    BOOST_TEST((steps & 0x10) != 0U);    // SMFIP_NOBODY: the body is never needed
    BOOST_TEST((steps & 0x20) == 0U);    // headers are needed (forged-header removal)
}

BOOST_AUTO_TEST_CASE(mixed_transaction) {
    auto c = open_session(process, "<sender@example.test>");

    auto r = c.rcpt("<user@dane-ok.test>");
    BOOST_TEST(r.code == 'c');

    r = c.rcpt("<user@notlsa.test>");
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text ==
               "450 4.7.4 notlsa.test: connector \"partners\" requires DANE, but no MX host of "
               "notlsa.test publishes TLSA records (dane-required)");

    r = c.rcpt("<user@nullmx.test>");
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text.rfind("556 5.1.10 nullmx.test", 0) == 0U);

    r = c.rcpt("<user@bogus.test>");
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text.rfind("450 4.7.5 bogus.test", 0) == 0U);
    BOOST_TEST(contains(r.text, "(dnssec-invalid)"));

    r = c.rcpt("<user@expired.test>");
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(contains(r.text, "(dnssec-invalid)"));

    r = c.rcpt("<user@dane-unusable.test>");
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text.rfind("450 4.7.5", 0) == 0U);
    BOOST_TEST(contains(r.text, "(tlsa-invalid)"));

    r = c.rcpt("<user@insecure.test>");  // mandatory, on_failure = reject
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text.rfind("550 5.7.4 insecure.test", 0) == 0U);
    BOOST_TEST(contains(r.text, "not DNSSEC-signed"));

    r = c.rcpt("<postmaster>");  // local: accepted, no header
    BOOST_TEST(r.code == 'c');

    r = c.rcpt("<user@bad..domain.test>");
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text.rfind("550 5.1.3", 0) == 0U);

    r = c.rcpt("<other@cname-mx.test>");  // default connector, opportunistic
    BOOST_TEST(r.code == 'c');
    r = c.rcpt("<second@dane-ok.test>");  // same domain: one header only
    BOOST_TEST(r.code == 'c');

    BOOST_TEST(c.header("Subject", " hello").code == 'c');
    BOOST_TEST(c.header("X-DANE-STS-Verdict", " dane-ok.test; dane=pass; forged").code == 'c');
    BOOST_TEST(c.header("x-dane-sts-verdict", " forged again").code == 'c');
    BOOST_TEST(c.end_of_headers().code == 'c');
    BOOST_TEST(c.body("body\r\n").code == 'c');
    auto eom = c.end_of_message();
    BOOST_TEST(eom.final.code == 'c');

    int deleted = 0;
    std::vector<std::string> added;
    for (const auto& m : eom.modifications) {
        if (m.code == 'm') {
            BOOST_TEST(m.value.empty());
            BOOST_TEST(m.name == "X-DANE-STS-Verdict");
            // Highest index first, so the remaining indexes stay valid.
            BOOST_TEST(m.index == static_cast<std::uint32_t>(2 - deleted));
            ++deleted;
        } else if (m.code == 'h') {
            BOOST_TEST(m.name == "X-DANE-STS-Verdict");
            added.push_back(m.value);
        }
    }
    BOOST_TEST(deleted == 2);
    BOOST_REQUIRE(added.size() == 2U);
    BOOST_TEST(added[0].rfind("dane-ok.test; connector=partners; dane_mode=mandatory;", 0) == 0U);
    BOOST_TEST(contains(added[0], "dnssec=secure"));
    BOOST_TEST(contains(added[0], "dane=pass"));
    BOOST_TEST(contains(added[0], "require=dane"));
    BOOST_TEST(contains(added[0], "tags=partner,eu"));
    BOOST_TEST(added[1].rfind("cname-mx.test; connector=default;", 0) == 0U);
    BOOST_TEST(contains(added[1], "require=dane"));

    const auto log = process.log();
    BOOST_TEST(contains(log,
                        "4QUEUEID: rcpt=<user@notlsa.test> domain=notlsa.test "
                        "connector=partners"));
    BOOST_TEST(contains(log, "action=defer result=dane-required"));
    c.quit();
}

BOOST_AUTO_TEST_CASE(test_mode_accepts_and_reports) {
    auto c = open_session(process, "<sender@example.test>");
    // eu.partner.test: signed, no TLSA; connector "trial" is mandatory in test mode.
    BOOST_TEST(c.rcpt("<user@eu.partner.test>").code == 'c');
    BOOST_TEST(c.end_of_headers().code == 'c');
    auto eom = c.end_of_message();
    BOOST_REQUIRE(eom.modifications.size() == 1U);
    const auto& h = eom.modifications[0].value;
    BOOST_TEST(contains(h, "connector=trial"));
    BOOST_TEST(contains(h, "test_mode=yes"));
    BOOST_TEST(contains(h, "would=defer"));
    BOOST_TEST(contains(h, "result=dane-required"));
    BOOST_TEST(contains(process.log(), "test_mode=yes would=defer"));
    c.quit();
}

BOOST_AUTO_TEST_CASE(slow_lookup_does_not_block_other_connections) {
    // noanswer.test's name server never answers: RCPT waits lookup_timeout_ms
    // (1.5 s) and, on a mandatory connector, defers as `pending`.
    auto slow = std::async(std::launch::async, [&] {
        auto c = open_session(process, "<a@example.test>");
        const auto start = std::chrono::steady_clock::now();
        auto r = c.rcpt("<user@noanswer.test>");
        return std::make_pair(r, std::chrono::steady_clock::now() - start);
    });
    std::this_thread::sleep_for(200ms);  // let the slow RCPT start waiting
    const auto start = std::chrono::steady_clock::now();
    auto c = open_session(process, "<b@example.test>");
    auto r = c.rcpt("<user@dane-ok2.test>");
    const auto fast_took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(r.code == 'c');
    auto [slow_reply, slow_took] = slow.get();
    BOOST_TEST(slow_reply.code == 'y');
    BOOST_TEST(slow_reply.text.rfind("450 4.7.5 noanswer.test", 0) == 0U);
    BOOST_TEST(contains(slow_reply.text, "(validation-failure)"));
    BOOST_TEST(slow_took >= 1400ms);
    BOOST_TEST(slow_took < 3000ms);
    // The other connection was answered while the slow one still waited.
    BOOST_TEST(fast_took < slow_took);
}

BOOST_AUTO_TEST_CASE(garbage_recipients_do_not_hurt) {
    auto c = open_session(process, "<sender@example.test>");
    // Longer than any SMTP command line an MTA passes on (RFC 5321 §4.5.3.1.4).
    const std::string huge(5000, 'a');
    auto r = c.rcpt("<x@" + huge + ".test>");
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text.rfind("550 5.1.3", 0) == 0U);
    r = c.rcpt(std::string("<\x01\x02\xff@\xfe\xfd>"));
    BOOST_TEST((r.code == 'y' || r.code == 'c'));
    r = c.rcpt("<%s%n@x%%.test>");
    BOOST_TEST(r.code == 'y');
    r = c.rcpt("");
    BOOST_TEST((r.code == 'c' || r.code == 'y'));
    // Still alive and answering.
    BOOST_TEST(c.rcpt("<user@dane-ok.test>").code == 'c');
    BOOST_TEST(process.running());
    c.quit();

    // A packet over libmilter's size limit closes that connection only.
    MilterClient big(process.port(), 5000ms);
    big.negotiate();
    big.mail("<sender@example.test>");
    BOOST_CHECK_THROW({ big.rcpt("<x@" + std::string(1 << 20, 'a') + ".test>"); },
                      std::runtime_error);
    auto again = open_session(process, "<sender@example.test>");
    BOOST_TEST(again.rcpt("<user@dane-ok.test>").code == 'c');
    BOOST_TEST(process.running());
}

BOOST_AUTO_TEST_SUITE_END()

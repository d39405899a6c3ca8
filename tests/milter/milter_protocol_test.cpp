// The built binary over the milter protocol, against the real DNSSEC test bed
// (knot on NET.10.53 serving the zones of tests/testbed/dns).
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

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
stub_zones = test.=@NET@.10.53
timeout_ms = 4000

[sts]
ca_file = @TESTBED@/https/ca.crt
https_port = 8443
fetch_timeout_ms = 3000

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

[connector.nosts]
recipient_domains = sts-testing.test
mta_sts = none

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

// The queue id comes from the MTA ({i}) and starts the decision line: one
// that is not letters and digits is quoted, so that it cannot start a line
// of its own in the log.
BOOST_AUTO_TEST_CASE(queue_id_cannot_forge_a_log_line) {
    MilterClient c(process.port(), 5000ms);
    c.negotiate();
    BOOST_REQUIRE(c.connect("client.test", "127.0.0.1").code == 'c');
    BOOST_REQUIRE(c.helo("client.test").code == 'c');
    c.macros('M', {{"i", "4Q\nFORGED: rcpt=<x@y.test> action=accept"}});
    BOOST_REQUIRE(c.mail("<sender@example.test>").code == 'c');
    BOOST_TEST(c.rcpt("<user@notlsa.test>").code == 'y');
    c.quit();
    const auto log = process.log();
    BOOST_TEST(contains(log,
                        "\"4Q\\x0aFORGED: rcpt=<x@y.test> action=accept\": "
                        "rcpt=<user@notlsa.test> domain=notlsa.test"),
               log);
    BOOST_TEST(!contains(log, "\nFORGED"));
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
    // SPEC §3: a domain with bad characters (here not even UTF-8) is never
    // looked up: 550 5.1.3.
    r = c.rcpt(std::string("<\x01\x02\xff@\xfe\xfd>"));
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text.rfind("550 5.1.3", 0) == 0U);
    r = c.rcpt("<%s%n@x%%.test>");
    BOOST_TEST(r.code == 'y');
    // An empty recipient has no domain: local, accepted (SPEC §3).
    r = c.rcpt("");
    BOOST_TEST(r.code == 'c');
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

// SPEC §4 rows 10-12 through the milter protocol, against the real HTTPS
// test bed (nginx with a test CA) and signed zones.
BOOST_AUTO_TEST_CASE(mta_sts_rows) {
    auto c = open_session(process, "<sender@example.test>");
    // Row 11: enforce policy, no MX matches.
    auto r = c.rcpt("<user@sts-nomatch.test>");
    BOOST_TEST(r.code == 'y');
    BOOST_TEST(r.text.rfind("450 4.7.5 sts-nomatch.test: connector \"default\"", 0) == 0U);
    BOOST_TEST(contains(r.text, "(validation-failure)"));
    // Row 10: enforce policy with an eligible MX (also through a wildcard).
    BOOST_TEST(c.rcpt("<user@sts-enforce.test>").code == 'c');
    BOOST_TEST(c.rcpt("<user@sts-wild.test>").code == 'c');
    // DANE governs where it exists (RFC 8461 §2).
    BOOST_TEST(c.rcpt("<user@sts-dane.test>").code == 'c');
    // A policy that cannot be fetched with nothing cached: sts=error, row 12.
    BOOST_TEST(c.rcpt("<user@sts-wrongcert.test>").code == 'c');
    // The same for a policy host whose certificate expired (RFC 8461 §3.3).
    BOOST_TEST(c.rcpt("<user@sts-expired.test>").code == 'c');
    // Unsigned zone: MTA-STS does not need DNSSEC.
    BOOST_TEST(c.rcpt("<user@sts-insecure.test>").code == 'c');
    // Testing mode is never deferred; with mta_sts = none nothing is fetched.
    BOOST_TEST(c.rcpt("<user@sts-testing.test>").code == 'c');
    BOOST_TEST(c.end_of_headers().code == 'c');
    auto eom = c.end_of_message();
    std::map<std::string, std::string> headers;
    for (const auto& m : eom.modifications) {
        if (m.code == 'h') {
            headers[m.value.substr(0, m.value.find(';'))] = m.value;
        }
    }
    BOOST_REQUIRE(headers.size() == 7U);
    BOOST_TEST(contains(headers["sts-enforce.test"], "sts=enforce"));
    BOOST_TEST(contains(headers["sts-enforce.test"], "require=sts"));
    BOOST_TEST(contains(headers["sts-wild.test"], "require=sts"));
    BOOST_TEST(contains(headers["sts-dane.test"], "dane=pass"));
    BOOST_TEST(contains(headers["sts-dane.test"], "sts=enforce"));
    BOOST_TEST(contains(headers["sts-dane.test"], "require=dane"));
    BOOST_TEST(contains(headers["sts-wrongcert.test"], "sts=error"));
    BOOST_TEST(contains(headers["sts-wrongcert.test"], "require=none"));
    BOOST_TEST(contains(headers["sts-expired.test"], "sts=error"));
    BOOST_TEST(contains(headers["sts-expired.test"], "require=none"));
    BOOST_TEST(contains(headers["sts-insecure.test"], "dnssec=insecure"));
    BOOST_TEST(contains(headers["sts-insecure.test"], "require=sts"));
    BOOST_TEST(contains(headers["sts-testing.test"], "connector=nosts"));
    BOOST_TEST(contains(headers["sts-testing.test"], "sts=skipped"));
    BOOST_TEST(contains(headers["sts-testing.test"], "require=none"));
    c.quit();
}

// SPEC §5 and issue acceptance: with the probe on, a DANE domain whose MX
// certificate does not match its TLSA records is deferred at RCPT
// (tlsa-invalid), before any message is queued; one whose certificate
// matches is accepted. Real STARTTLS listeners (tests/testbed/smtp).
BOOST_AUTO_TEST_CASE(probe_decides_dane) {
    std::string with_probe = kConfig;
    with_probe.replace(with_probe.find("[cache]"), 7,
                       "[probe]\nenabled = yes\nport = 2525\ntimeout_ms = 3000\n\n[cache]");
    with_probe.replace(with_probe.find("lookup_timeout_ms = 1500"), 24, "lookup_timeout_ms = 8000");
    // partner.test goes to the default (opportunistic, not test mode) connector.
    const std::string trial = "recipient_domains = partner.test, *.partner.test";
    with_probe.replace(with_probe.find(trial), trial.size(), "recipient_domains = unused.test");
    MilterProcess probing(DSM_MILTER_BINARY, with_probe);
    auto c = open_session(probing, "<sender@example.test>");
    BOOST_TEST(c.rcpt("<user@dane-ok.test>").code == 'c');
    auto mismatch = c.rcpt("<user@partner.test>");
    BOOST_TEST(mismatch.code == 'y');
    BOOST_TEST(mismatch.text.rfind("450 4.7.5 partner.test", 0) == 0U);
    BOOST_TEST(contains(mismatch.text, "(tlsa-invalid)"));
    BOOST_TEST(contains(probing.log(), "dane=fail"));
    c.quit();
    BOOST_TEST(probing.stop() == 0);
}

// SPEC §5 and §4 rows 10-12 with the probe on, for MTA-STS MXs (issue 12
// item 1): the MX of each sts-probe-*.test domain is a real STARTTLS listener
// (tests/testbed/smtp) and [sts] ca_file holds the HTTPS test bed's CA plus
// the SMTP test bed's WebPKI CA. A failed probe defers at RCPT (row 11,
// validation-failure, the MX's RFC 8460 result type in the text); a MX that
// does not answer, or a testing policy, does not. Senders from
// trial.example.test get a test-mode connector for the failing domains, so
// their header shows sts=fail.
BOOST_AUTO_TEST_CASE(probe_decides_sts) {
    const std::string bundle = std::filesystem::temp_directory_path() /
                               ("dsm-sts-probe-ca-" + std::to_string(::getpid()) + ".pem");
    {
        std::ofstream out(bundle, std::ios::trunc);
        for (const char* part : {"/https/ca.crt", "/smtp/webpki-ca.crt"}) {
            std::ifstream in(testbed_dir() + part);
            BOOST_TEST_REQUIRE(in.good(), testbed_dir() << part << " missing");
            out << in.rdbuf();
        }
    }
    std::string conf = kConfig;
    const std::string ca = "ca_file = @TESTBED@/https/ca.crt";
    conf.replace(conf.find(ca), ca.size(), "ca_file = " + bundle);
    conf.replace(conf.find("[cache]"), 7,
                 "[probe]\nenabled = yes\nport = 2525\ntimeout_ms = 3000\n\n[cache]");
    conf.replace(conf.find("lookup_timeout_ms = 1500"), 24, "lookup_timeout_ms = 8000");
    conf += R"(
[connector.probetrial]
recipient_domains = sts-probe-wrongname.test, sts-probe-expired.test, sts-probe-untrusted.test, sts-probe-nostarttls.test
sender_domains = trial.example.test
test_mode = yes
)";
    MilterProcess probing(DSM_MILTER_BINARY, conf);
    auto c = open_session(probing, "<sender@example.test>");
    // Row 10: the MX verified against WebPKI and its name (RFC 8461 §4.2).
    BOOST_TEST(c.rcpt("<user@sts-probe-ok.test>").code == 'c');
    // Row 11: every eligible MX answered and failed.
    for (const auto& [domain, type] : std::vector<std::pair<std::string, std::string>>{
             {"sts-probe-wrongname.test", "certificate-host-mismatch"},
             {"sts-probe-expired.test", "certificate-expired"},
             {"sts-probe-untrusted.test", "certificate-not-trusted"},
             {"sts-probe-nostarttls.test", "starttls-not-supported"}}) {
        auto r = c.rcpt("<user@" + domain + ">");
        BOOST_TEST(r.code == 'y', domain);
        BOOST_TEST(r.text.rfind("450 4.7.5 " + domain + ": connector \"default\"", 0) == 0U,
                   r.text);
        BOOST_TEST(contains(r.text, "(validation-failure)"), r.text);
        BOOST_TEST(contains(r.text, "mx." + domain + " (" + type + ")"), r.text);
    }
    // SPEC §5: no answer is no failure; RFC 8461 §5: testing never defers.
    BOOST_TEST(c.rcpt("<user@sts-probe-refused.test>").code == 'c');
    BOOST_TEST(c.rcpt("<user@sts-probe-testing.test>").code == 'c');
    BOOST_TEST(c.end_of_headers().code == 'c');
    auto headers_of = [](const EomResult& eom) {
        std::map<std::string, std::string> h;
        for (const auto& m : eom.modifications) {
            if (m.code == 'h') {
                h[m.value.substr(0, m.value.find(';'))] = m.value;
            }
        }
        return h;
    };
    auto h = headers_of(c.end_of_message());
    BOOST_REQUIRE(h.size() == 3U);
    BOOST_TEST(contains(h["sts-probe-ok.test"], "sts=enforce"));
    BOOST_TEST(contains(h["sts-probe-ok.test"], "require=sts"));
    BOOST_TEST(contains(h["sts-probe-refused.test"], "sts=enforce"));
    BOOST_TEST(contains(h["sts-probe-refused.test"], "require=sts"));
    BOOST_TEST(contains(h["sts-probe-testing.test"], "sts=testing"));
    BOOST_TEST(contains(h["sts-probe-testing.test"], "require=none"));
    c.quit();

    auto t = open_session(probing, "<sender@trial.example.test>");
    for (const char* d : {"sts-probe-wrongname.test", "sts-probe-expired.test",
                          "sts-probe-untrusted.test", "sts-probe-nostarttls.test"}) {
        BOOST_TEST(t.rcpt(std::string("<user@") + d + ">").code == 'c', d);
    }
    BOOST_TEST(t.end_of_headers().code == 'c');
    h = headers_of(t.end_of_message());
    BOOST_REQUIRE(h.size() == 4U);
    for (const auto& [domain, header] : h) {
        BOOST_TEST(contains(header, "sts=fail"), header);
        BOOST_TEST(contains(header, "would=defer"), header);
        BOOST_TEST(contains(header, "result=validation-failure"), header);
    }
    t.quit();
    // One decision line per RCPT, with the MX's result type in the cause.
    BOOST_TEST(contains(probing.log(), "certificate-host-mismatch"));
    BOOST_TEST(probing.stop() == 0);
    std::filesystem::remove(bundle);
}

BOOST_AUTO_TEST_CASE(sighup_reloads_and_keeps_transactions_on_their_snapshot) {
    auto before = open_session(process, "<sender@example.test>");  // MAIL before the reload
    BOOST_TEST(before.rcpt("<user@notlsa.test>").code == 'y');     // partners: mandatory

    std::string relaxed = kConfig;
    const std::string from = "recipient_domains = dane-ok.test, notlsa.test,";
    relaxed.replace(relaxed.find(from), from.size(), "recipient_domains = dane-ok.test,");
    BOOST_REQUIRE(process.reload(relaxed, "reloaded config="));
    BOOST_TEST(process.running());

    // The transaction that began before the reload keeps its snapshot...
    BOOST_TEST(before.rcpt("<other@notlsa.test>").code == 'y');
    BOOST_TEST(before.end_of_headers().code == 'c');
    BOOST_TEST(before.end_of_message().final.code == 'c');  // and finishes
    // ...a new one sees the new connectors: notlsa.test is now opportunistic.
    auto after = open_session(process, "<sender@example.test>");
    BOOST_TEST(after.rcpt("<user@notlsa.test>").code == 'c');

    // A bad file is refused; the last good configuration stays.
    BOOST_REQUIRE(process.reload("[connector.x]\nmode = sometimes\n", "reload refused"));
    BOOST_TEST(process.running());
    auto third = open_session(process, "<sender@example.test>");
    BOOST_TEST(third.rcpt("<user@notlsa.test>").code == 'c');
    BOOST_TEST(third.rcpt("<user@dane-ok.test>").code == 'c');
}

// SPEC §8: SIGTERM stops cleanly: in-flight transactions finish, the store is
// flushed. The slow lookup is the test bed's real silent name server
// (noanswer.test is delegated to NET.10.54, where nothing listens), so the
// RCPT is still waiting when the signal comes.
BOOST_AUTO_TEST_CASE(sigterm_lets_transactions_finish_and_flushes_the_store) {
    std::string with_store = kConfig;
    with_store.replace(with_store.find("store = memory"), 14, "store = sqlite:@DIR@/cache.db");
    MilterProcess stopping(DSM_MILTER_BINARY, with_store);
    const std::string store = "sqlite:" + stopping.dir() + "/cache.db";

    // Decided before SIGTERM: only the store can decide it after a restart.
    auto done = open_session(stopping, "<a@example.test>");
    BOOST_TEST(done.rcpt("<user@dane-ok.test>").code == 'c');
    BOOST_TEST(done.end_of_headers().code == 'c');
    BOOST_TEST(done.end_of_message().final.code == 'c');

    // An idle connection (no transaction) is not waited for, and does not
    // keep the process from exiting cleanly.
    MilterClient idle(stopping.port(), 5000ms);
    idle.negotiate();
    auto slow = open_session(stopping, "<b@example.test>");
    auto waiting = std::async(std::launch::async, [&] {
        const auto start = std::chrono::steady_clock::now();
        auto r = slow.rcpt("<user@noanswer.test>");
        return std::make_pair(r, std::chrono::steady_clock::now() - start);
    });
    std::this_thread::sleep_for(300ms);  // the RCPT is waiting on its lookup
    BOOST_REQUIRE(stopping.signal(SIGTERM));
    std::this_thread::sleep_for(200ms);  // delivered to libmilter's signal thread

    // A new transaction is not begun (the MTA retries it)...
    auto refused = done.mail("<c@example.test>");
    BOOST_TEST(refused.code == 'y');
    BOOST_TEST(refused.text.rfind("451 4.3.2", 0) == 0U);
    // ...the waiting RCPT gets its answer: pending on a mandatory connector
    // is SPEC §4 row 8...
    auto [reply, took] = waiting.get();
    BOOST_TEST(reply.code == 'y');
    BOOST_TEST(reply.text.rfind("450 4.7.5 noanswer.test", 0) == 0U);
    BOOST_TEST(contains(reply.text, "(validation-failure)"));
    BOOST_TEST(took >= 1400ms);
    BOOST_TEST(stopping.running());
    // ...and its transaction finishes.
    BOOST_TEST(slow.header("Subject", " hello").code == 'c');
    BOOST_TEST(slow.end_of_headers().code == 'c');
    BOOST_TEST(slow.end_of_message().final.code == 'c');
    slow.quit();
    done.quit();
    // libmilter closes its listener within its 5 s check interval.
    const int status = stopping.wait_exit(8000ms);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0);
    BOOST_TEST(contains(stopping.log(), "stopping: waiting up to 6500 ms for transactions=1"));
    BOOST_TEST(contains(stopping.log(), "stopping: every transaction finished"));
    // noanswer.test's background lookup was still waiting on the silent
    // server (timeout_ms = 4000 a query): it was cut short, not waited for.
    BOOST_TEST(contains(stopping.log(), "stopping: lookups cut short=1 "), stopping.log());
    BOOST_TEST(contains(stopping.log(), "stopped"));
    BOOST_TEST(!contains(stopping.log(), "Sanitizer"));
    BOOST_TEST(!contains(stopping.log(), "runtime error:"));

    // The store was flushed: restarted with DNS down (NET.10.54: nothing
    // listens), the mandatory connector still accepts dane-ok.test.
    std::string dns_down = kConfig;
    dns_down.replace(dns_down.find("store = memory"), 14, "store = " + store);
    dns_down.replace(dns_down.find("test.=@NET@.10.53"), 17, "test.=@NET@.10.54");
    MilterProcess restarted(DSM_MILTER_BINARY, dns_down);
    auto again = open_session(restarted, "<a@example.test>");
    BOOST_TEST(again.rcpt("<user@dane-ok.test>").code == 'c');
    // Same connector, not decided before the stop: DNS is down, it is deferred.
    BOOST_TEST(again.rcpt("<user@implicit.test>").code == 'y');
    again.quit();
    BOOST_TEST(restarted.stop() == 0);
}

// logrotate renames the file and sends SIGHUP: the next lines go to a new file
// at the configured path, whether or not the configuration file is valid.
BOOST_AUTO_TEST_CASE(sighup_reopens_the_log_file) {
    const std::string path = process.dir() + "/milter.log";
    BOOST_REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
    BOOST_REQUIRE(process.reload(kConfig, "reloaded config="));
    auto c = open_session(process, "<sender@example.test>");
    BOOST_TEST(c.rcpt("<user@dane-ok.test>").code == 'c');
    c.quit();
    const auto read = [](const std::string& p) {
        std::stringstream ss;
        ss << std::ifstream(p).rdbuf();
        return ss.str();
    };
    BOOST_TEST(contains(read(path), "reloaded config="));
    BOOST_TEST(contains(read(path), "rcpt=<user@dane-ok.test>"));
    BOOST_TEST(contains(read(path + ".1"), "starting version="));
    BOOST_TEST(!contains(read(path + ".1"), "reloaded config="));

    BOOST_REQUIRE(std::rename(path.c_str(), (path + ".2").c_str()) == 0);
    BOOST_REQUIRE(process.reload("[connector.x]\nmode = sometimes\n", "reload refused"));
    BOOST_TEST(contains(read(path), "reload refused"));
    BOOST_TEST(!contains(read(path + ".2"), "reload refused"));
}

BOOST_AUTO_TEST_SUITE_END()

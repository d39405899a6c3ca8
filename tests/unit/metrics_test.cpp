// The metrics registry and its text exposition format 0.0.4 (SPEC §8
// "[metrics] listen"), row by row; the names and label values the milter
// records; and the HTTP endpoint over a real loopback socket.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/cache/verdict_cache.hpp"
#include "core/metrics/cache_metrics.hpp"
#include "core/metrics/exposition.hpp"
#include "core/metrics/metered_resolver.hpp"
#include "core/metrics/metrics_server.hpp"
#include "core/metrics/milter_metrics.hpp"
#include "core/metrics/registry.hpp"
#include "core/util/clock.hpp"

using namespace dsm::metrics;

namespace {

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        out.push_back(line);
    }
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines(text)) {
        if (l == line) {
            return true;
        }
    }
    return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(values_are_formatted_as_prometheus_reads_them) {
    BOOST_TEST(format_value(0) == "0");
    BOOST_TEST(format_value(42) == "42");
    BOOST_TEST(format_value(-3) == "-3");
    BOOST_TEST(format_value(0.005) == "0.005");
    BOOST_TEST(format_value(2.5) == "2.5");
    BOOST_TEST(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
    BOOST_TEST(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
    BOOST_TEST(format_value(std::nan("")) == "NaN");
}

BOOST_AUTO_TEST_CASE(label_values_and_help_are_escaped) {
    BOOST_TEST(escape_label_value(R"(a"b\c)"
                                  "\n") == R"(a\"b\\c\n)");
    // HELP escapes backslash and line feed, not the double quote.
    BOOST_TEST(escape_help("say \"hi\"\\\n") == "say \"hi\"\\\\\\n");
    BOOST_TEST(format_labels({}) == "");
    BOOST_TEST(format_labels({{"a", "x"}, {"b", "q\""}}) == R"({a="x",b="q\""})");
}

BOOST_AUTO_TEST_CASE(counter_and_gauge_render_help_type_and_value) {
    Registry r;
    auto& c = r.counter("t_requests_total", "Requests.\nSecond line \\ here.");
    auto& g = r.gauge("t_depth", "Depth.");
    c.inc();
    c.inc(4);
    g.set(2.5);
    g.add(-1);
    const std::vector<std::string> expected = {
        "# HELP t_requests_total Requests.\\nSecond line \\\\ here.",
        "# TYPE t_requests_total counter",
        "t_requests_total 5",
        "# HELP t_depth Depth.",
        "# TYPE t_depth gauge",
        "t_depth 1.5",
    };
    BOOST_TEST(lines(r.render()) == expected, boost::test_tools::per_element());
    BOOST_TEST(r.render().back() == '\n');
}

BOOST_AUTO_TEST_CASE(family_children_render_sorted_with_escaped_labels) {
    Registry r;
    auto& f = r.counter_family("t_decisions_total", "Decisions.", {"action", "connector"});
    f.with({"defer", "b"}).inc();
    f.with({"accept", "a\"x"}).inc(2);
    f.with({"defer", "b"}).inc();  // the same child again
    const std::vector<std::string> expected = {
        "# HELP t_decisions_total Decisions.",
        "# TYPE t_decisions_total counter",
        R"(t_decisions_total{action="accept",connector="a\"x"} 2)",
        R"(t_decisions_total{action="defer",connector="b"} 2)",
    };
    BOOST_TEST(lines(r.render()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(family_without_children_renders_only_its_header) {
    Registry r;
    r.counter_family("t_x_total", "X.", {"a"});
    const std::vector<std::string> expected = {"# HELP t_x_total X.", "# TYPE t_x_total counter"};
    BOOST_TEST(lines(r.render()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(values_that_only_differ_in_where_they_split_are_distinct_children) {
    Registry r;
    auto& f = r.counter_family("t_total", "T.", {"a", "b"});
    f.with({"ab", "c"}).inc();
    f.with({"a", "bc"}).inc(3);
    BOOST_TEST(f.with({"ab", "c"}).value() == 1U);
    BOOST_TEST(f.with({"a", "bc"}).value() == 3U);
}

BOOST_AUTO_TEST_CASE(histogram_renders_cumulative_buckets_inf_sum_and_count) {
    Registry r;
    auto& h = r.histogram("t_seconds", "Durations.", {0.01, 0.1, 1});
    h.observe(0.005);
    h.observe(0.01);  // on a bound: counted in that bucket (le is inclusive)
    h.observe(0.5);
    h.observe(3);
    const std::vector<std::string> expected = {
        "# HELP t_seconds Durations.",
        "# TYPE t_seconds histogram",
        R"(t_seconds_bucket{le="0.01"} 2)",
        R"(t_seconds_bucket{le="0.1"} 2)",
        R"(t_seconds_bucket{le="1"} 3)",
        R"(t_seconds_bucket{le="+Inf"} 4)",
        "t_seconds_sum 3.515",
        "t_seconds_count 4",
    };
    BOOST_TEST(lines(r.render()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(labeled_histogram_puts_le_last) {
    Registry r;
    auto& f = r.histogram_family("t_lookup_seconds", "L.", {"kind"}, {0.5});
    f.with({"mx"}).observe(0.25);
    const std::vector<std::string> expected = {
        "# HELP t_lookup_seconds L.",
        "# TYPE t_lookup_seconds histogram",
        R"(t_lookup_seconds_bucket{kind="mx",le="0.5"} 1)",
        R"(t_lookup_seconds_bucket{kind="mx",le="+Inf"} 1)",
        R"(t_lookup_seconds_sum{kind="mx"} 0.25)",
        R"(t_lookup_seconds_count{kind="mx"} 1)",
    };
    BOOST_TEST(lines(r.render()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(callback_series_of_one_name_share_one_header) {
    Registry r;
    double v = 7;
    r.counter_fn("t_errors_total", "Errors.", {{"store", "sqlite"}}, [&] { return v; });
    r.counter_fn("t_errors_total", "Errors.", {{"store", "redis"}}, [] { return 0.0; });
    const std::vector<std::string> expected = {
        "# HELP t_errors_total Errors.",
        "# TYPE t_errors_total counter",
        R"(t_errors_total{store="sqlite"} 7)",
        R"(t_errors_total{store="redis"} 0)",
    };
    BOOST_TEST(lines(r.render()) == expected, boost::test_tools::per_element());
    v = 9;  // read at each scrape
    BOOST_TEST(has_line(r.render(), R"(t_errors_total{store="sqlite"} 9)"));
}

BOOST_AUTO_TEST_CASE(family_beyond_max_children_records_into_a_hidden_overflow) {
    Registry r;
    auto& f = r.counter_family("t_total", "T.", {"c"}, 2);
    f.with({"a"}).inc();
    f.with({"b"}).inc();
    f.with({"c"}).inc();  // a third series: not rendered, counted as overflow
    f.with({"d"}).inc();
    BOOST_TEST(f.overflowed() == 2U);
    BOOST_TEST(f.children().size() == 2U);
    BOOST_TEST(!has_line(r.render(), R"(t_total{c="c"} 1)"));
    BOOST_TEST(has_line(r.render(), R"(t_total{c="a"} 1)"));
}

BOOST_AUTO_TEST_CASE(concurrent_recording_loses_nothing) {
    Registry r;
    auto& f = r.counter_family("t_total", "T.", {"connector"});
    auto& h = r.histogram("t_seconds", "S.", {1});
    constexpr int kThreads = 8;
    constexpr int kEach = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            const std::string own = "c" + std::to_string(t % 4);
            for (int i = 0; i < kEach; ++i) {
                f.with({own}).inc();  // four children, created concurrently
                h.observe(0.5);
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    std::uint64_t total = 0;
    for (const auto& [values, c] : f.children()) {
        BOOST_TEST(c->value() == 2U * kEach);
        total += c->value();
    }
    BOOST_TEST(f.children().size() == 4U);
    BOOST_TEST(total == std::uint64_t{kThreads} * kEach);
    BOOST_TEST(h.snapshot().count() == std::uint64_t{kThreads} * kEach);
}

BOOST_AUTO_TEST_CASE(milter_metrics_use_the_documented_names_and_values) {
    MilterMetrics m;
    m.decision("defer", "default", "dnssec-invalid");
    m.decision("accept", "default", "");
    m.lookup(LookupKind::tlsa, "secure", std::chrono::milliseconds(3));
    m.policy_answer("OK dane-only");
    m.policy_answer("NOTFOUND ");
    m.policy_answer("TEMP temporary failure");
    m.policy_answer("weird");
    const std::string text = m.render();
    BOOST_TEST(has_line(text, "# TYPE dane_sts_milter_decisions_total counter"));
    BOOST_TEST(has_line(
        text,
        R"(dane_sts_milter_decisions_total{action="defer",connector="default",result="dnssec-invalid"} 1)"));
    BOOST_TEST(has_line(
        text,
        R"(dane_sts_milter_decisions_total{action="accept",connector="default",result="none"} 1)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_lookups_total{kind="tlsa",outcome="secure"} 1)"));
    BOOST_TEST(has_line(text, "# TYPE dane_sts_milter_lookup_duration_seconds histogram"));
    BOOST_TEST(has_line(
        text, R"(dane_sts_milter_lookup_duration_seconds_bucket{kind="tlsa",le="0.0025"} 0)"));
    BOOST_TEST(has_line(
        text, R"(dane_sts_milter_lookup_duration_seconds_bucket{kind="tlsa",le="0.005"} 1)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_lookup_duration_seconds_count{kind="tlsa"} 1)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_policy_map_requests_total{answer="OK"} 1)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_policy_map_requests_total{answer="NOTFOUND"} 1)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_policy_map_requests_total{answer="TEMP"} 1)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_policy_map_requests_total{answer="other"} 1)"));
    BOOST_TEST(has_line(
        text, std::string(R"(dane_sts_milter_build_info{version=")") + DSM_VERSION + R"("} 1)"));
}

BOOST_AUTO_TEST_CASE(dns_lookups_are_classified_by_kind_and_outcome) {
    using dsm::dns::DnsAnswer;
    using dsm::dns::DnsOutcome;
    using dsm::dns::DnssecState;
    using dsm::dns::RrType;
    BOOST_TEST(to_string(dns_kind("example.test", RrType::mx)) == "mx");
    BOOST_TEST(to_string(dns_kind("mx.example.test", RrType::a)) == "address");
    BOOST_TEST(to_string(dns_kind("mx.example.test", RrType::aaaa)) == "address");
    BOOST_TEST(to_string(dns_kind("_25._tcp.mx.example.test", RrType::tlsa)) == "tlsa");
    BOOST_TEST(to_string(dns_kind("_MTA-STS.example.test", RrType::txt)) == "sts_txt");
    BOOST_TEST(to_string(dns_kind("example.test", RrType::txt)) == "other_dns");

    DnsAnswer a;
    a.outcome = DnsOutcome::answer;
    a.dnssec = DnssecState::secure;
    BOOST_TEST(dns_outcome(a) == "secure");
    a.dnssec = DnssecState::insecure;
    BOOST_TEST(dns_outcome(a) == "insecure");
    a.outcome = DnsOutcome::nxdomain;
    BOOST_TEST(dns_outcome(a) == "nxdomain");
    a.dnssec = DnssecState::bogus;
    BOOST_TEST(dns_outcome(a) == "bogus");
    a.outcome = DnsOutcome::tempfail;  // as the resolver reports a bogus answer
    a.error = "DNSSEC validation failed";
    BOOST_TEST(dns_outcome(a) == "bogus");
    a.dnssec = DnssecState::indeterminate;
    a.error = "timeout after 3000 ms";
    BOOST_TEST(dns_outcome(a) == "timeout");
    a.error = "SERVFAIL";
    BOOST_TEST(dns_outcome(a) == "error");
}

BOOST_AUTO_TEST_CASE(cache_metrics_read_each_cache_counter_under_its_own_name) {
    using namespace std::chrono_literals;
    dsm::config::CacheSettings cs;
    cs.store = "memory";
    cs.min_ttl = 300s;
    cs.max_ttl = 300s;
    cs.error_ttl = 60s;
    cs.stale_ttl = 3600s;
    cs.max_entries = 64;  // one entry a shard: a few hundred domains evict
    dsm::config::PrefetchSettings ps;
    ps.concurrency = 2;
    auto clock = std::make_shared<dsm::util::ManualClock>();
    std::atomic<bool> fail{false};
    dsm::cache::VerdictCache c(
        cs, ps,
        [&](const std::string& d) {
            dsm::verdict::DomainVerdict v;
            v.domain = d;
            v.dnssec = fail ? dsm::verdict::DnssecField::error : dsm::verdict::DnssecField::secure;
            v.dane = fail ? dsm::verdict::DaneField::error : dsm::verdict::DaneField::pass;
            v.ttl = 300s;
            return v;
        },
        clock);
    Registry r;
    register_cache_metrics(r, c, nullptr, nullptr);

    c.get("a.test", 2000ms);  // miss
    c.get("a.test", 2000ms);  // hit
    c.get("a.test", 2000ms);  // hit
    clock->advance(301s);     // expired, within stale_ttl
    fail = true;
    c.get("a.test", 2000ms);  // miss; the refresh fails: stale served
    for (int i = 0; i < 300; ++i) {
        c.get("d" + std::to_string(i) + ".test", 2000ms);
    }
    const auto st = c.stats();
    BOOST_TEST(st.hits == 2U);
    BOOST_TEST(st.misses == 302U);
    BOOST_TEST(st.stale == 1U);
    BOOST_TEST(st.evictions > 0U);
    const std::string text = r.render();
    BOOST_TEST(has_line(text, "dane_sts_milter_cache_hits_total 2"));
    BOOST_TEST(has_line(text, "dane_sts_milter_cache_misses_total 302"));
    BOOST_TEST(has_line(text, "dane_sts_milter_cache_stale_served_total 1"));
    BOOST_TEST(has_line(text, "dane_sts_milter_cache_joined_total 0"));
    BOOST_TEST(has_line(text, "dane_sts_milter_cache_pending_total 0"));
    BOOST_TEST(has_line(text, "dane_sts_milter_cache_store_hits_total 0"));
    BOOST_TEST(
        has_line(text, "dane_sts_milter_cache_evictions_total " + std::to_string(st.evictions)));
    BOOST_TEST(has_line(text, "dane_sts_milter_cache_entries " + std::to_string(c.size())));
    BOOST_TEST(has_line(text, "dane_sts_milter_prefetch_refreshes_total 0"));
    BOOST_TEST(has_line(text, "dane_sts_milter_prefetch_queue_depth 0"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_store_errors_total{store="memory"} 0)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_store_healthy{store="memory"} 1)"));
}

namespace {
// Only its name matters here (the label comes from it).
class NamedStore final : public dsm::cache::Store {
  public:
    explicit NamedStore(std::string name) : name_(std::move(name)) {}
    [[nodiscard]] std::string name() const override { return name_; }
    std::vector<dsm::cache::StoredVerdict> load(std::size_t /*max*/) override { return {}; }
    std::optional<dsm::cache::StoredVerdict> get(const std::string& /*domain*/) override {
        return std::nullopt;
    }
    void put(const std::vector<dsm::cache::StoredVerdict>& /*verdicts*/) override {}
    std::optional<std::string> get_policy(const std::string& /*domain*/) override {
        return std::nullopt;
    }
    void put_policy(const std::string& /*domain*/, const std::string& /*record*/,
                    std::chrono::system_clock::time_point /*expires*/) override {}
    bool erase(const std::string& /*domain*/) override { return true; }
    [[nodiscard]] bool healthy() const override { return false; }
    [[nodiscard]] std::uint64_t errors() const override { return 3; }

  private:
    std::string name_;
};
}  // namespace

BOOST_AUTO_TEST_CASE(store_metrics_are_labeled_by_the_kind_of_store) {
    BOOST_TEST(store_kind(nullptr) == "memory");
    const NamedStore sqlite("sqlite:/var/lib/dane-sts-milter/cache.db");
    const NamedStore redis("redis://127.0.0.1:6379/0");
    BOOST_TEST(store_kind(&sqlite) == "sqlite");
    BOOST_TEST(store_kind(&redis) == "redis");

    dsm::config::CacheSettings cs;
    cs.store = "redis://127.0.0.1:6379/0";
    dsm::cache::VerdictCache c(
        cs, dsm::config::PrefetchSettings{},
        [](const std::string& d) { return dsm::verdict::pending_verdict(d); },
        std::make_shared<dsm::util::ManualClock>());
    Registry r;
    register_cache_metrics(r, c, &redis, nullptr);
    const std::string text = r.render();
    BOOST_TEST(has_line(text, R"(dane_sts_milter_store_errors_total{store="redis"} 3)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_store_healthy{store="redis"} 0)"));
    BOOST_TEST(has_line(text, R"(dane_sts_milter_store_write_queue_depth{store="redis"} 0)"));
}

namespace {
struct Reply {
    int status = 0;
    std::string content_type;
    std::string allow;
    std::string body;
};

Reply http(std::uint16_t port, const std::string& method, const std::string& path) {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setContentLength(0);
    session.sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    Reply r;
    r.status = static_cast<int>(resp.getStatus());
    r.content_type = resp.getContentType();
    r.allow = resp.get("Allow", "");
    Poco::StreamCopier::copyToString(in, r.body);
    return r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(endpoint_serves_get_metrics_only) {
    auto server = MetricsServer::create("127.0.0.1:0", [] { return std::string("t_x 1\n"); });
    BOOST_TEST_REQUIRE(server.ok());
    const std::uint16_t port = (*server)->port();
    BOOST_TEST(port != 0);
    (*server)->start();

    const Reply ok = http(port, "GET", "/metrics");
    BOOST_TEST(ok.status == 200);
    BOOST_TEST(ok.content_type == "text/plain; version=0.0.4; charset=utf-8");
    BOOST_TEST(ok.body == "t_x 1\n");

    BOOST_TEST(http(port, "GET", "/other").status == 404);
    BOOST_TEST(http(port, "GET", "/metrics/x").status == 404);
    const Reply post = http(port, "POST", "/metrics");
    BOOST_TEST(post.status == 405);
    BOOST_TEST(post.allow == "GET");
    BOOST_TEST(http(port, "PUT", "/metrics").status == 405);
    BOOST_TEST(http(port, "GET", "/metrics?x=1").status == 200);

    (*server)->stop();
    (*server)->stop();  // idempotent
}

BOOST_AUTO_TEST_CASE(endpoint_reports_a_busy_port_at_create) {
    auto first = MetricsServer::create("127.0.0.1:0", [] { return std::string(); });
    BOOST_TEST_REQUIRE(first.ok());
    const std::string listen = "127.0.0.1:" + std::to_string((*first)->port());
    auto second = MetricsServer::create(listen, [] { return std::string(); });
    BOOST_TEST_REQUIRE(!second.ok());
    BOOST_TEST(second.error().find(listen) != std::string::npos);
    BOOST_TEST(!MetricsServer::create("not an address", [] { return std::string(); }).ok());
}

BOOST_AUTO_TEST_SUITE_END()

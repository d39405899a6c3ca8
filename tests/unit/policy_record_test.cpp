// The MTA-STS policy record of the stores (core/cache/policy_store.hpp) and
// the policy file it embeds (core/sts/policy.hpp format_policy).
#include <boost/test/unit_test.hpp>

#include "core/cache/policy_store.hpp"
#include "core/sts/policy.hpp"

using namespace dsm;
using namespace std::chrono_literals;

namespace {

sts::PolicyBacking::Record sample_record() {
    sts::PolicyBacking::Record r;
    r.policy.mode = sts::PolicyMode::enforce;
    r.policy.max_age = 604800;
    r.policy.mx = {"mx1.example.test", "*.example.test"};
    r.id = "20261204T0730";
    r.fetched = std::chrono::system_clock::time_point(1796370000123456789ns);
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_record)

BOOST_AUTO_TEST_CASE(format_policy_reads_back) {
    for (const char* body :
         {"version: STSv1\nmode: enforce\nmx: a.test\nmx: *.b.test\nmax_age: 86400\n",
          "version: STSv1\nmode: testing\nmx: a.test\nmax_age: 0\n",
          "version: STSv1\nmode: none\nmax_age: 31557600\n"}) {
        const auto p = sts::parse_policy(body);
        BOOST_REQUIRE(static_cast<bool>(p));
        BOOST_TEST(sts::format_policy(*p) == body);
    }
}

BOOST_AUTO_TEST_CASE(record_round_trip) {
    const auto r = sample_record();
    const std::string text = cache::encode_policy("example.test", r);
    BOOST_TEST(text ==
               "dsm-sts-policy v1\ndomain: example.test\nid: 20261204T0730\n"
               "fetched: 1796370000123456789\nversion: STSv1\nmode: enforce\n"
               "mx: mx1.example.test\nmx: *.example.test\nmax_age: 604800\n");
    const auto back = cache::decode_policy("example.test", text);
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST(back->id == r.id);
    BOOST_TEST((back->fetched == r.fetched));
    BOOST_TEST(back->policy.max_age == r.policy.max_age);
    BOOST_TEST(back->policy.mx == r.policy.mx);
    BOOST_TEST(sts::to_string(back->policy.mode) == "enforce");
}

BOOST_AUTO_TEST_CASE(records_that_are_not_ours_are_misses) {
    const std::string good = cache::encode_policy("example.test", sample_record());
    // Another domain's record under this key, another version, damage.
    BOOST_TEST(!cache::decode_policy("other.test", good).has_value());
    std::string v2 = good;
    v2.replace(0, 17, "dsm-sts-policy v2");
    BOOST_TEST(!cache::decode_policy("example.test", v2).has_value());
    BOOST_TEST(!cache::decode_policy("example.test", good.substr(0, good.size() - 8)).has_value());
    std::string bad_time = good;
    bad_time.replace(bad_time.find("fetched: ") + 9, 1, "x");
    BOOST_TEST(!cache::decode_policy("example.test", bad_time).has_value());
    std::string bad_mode = good;
    bad_mode.replace(bad_mode.find("mode: enforce"), 13, "mode: enforced");
    BOOST_TEST(!cache::decode_policy("example.test", bad_mode).has_value());
    BOOST_TEST(!cache::decode_policy("example.test", "").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

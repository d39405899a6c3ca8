// core/sts/txt_record: the _mta-sts TXT record (RFC 8461 §3.1), its ABNF
// and the one-record discovery rule, row by row.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/sts/txt_record.hpp"

using dsm::sts::discover_sts;
using dsm::sts::parse_sts_txt;
using dsm::sts::TxtDiscovery;

BOOST_AUTO_TEST_SUITE(sts_txt_record)

BOOST_AUTO_TEST_CASE(parse_rows) {
    struct Row {
        std::string record;
        std::string id;   // "" when invalid
        std::string why;  // a part of the reason, when invalid
    };
    const std::string id32(32, 'Z');
    const std::vector<Row> rows = {
        // Valid, per the ABNF.
        {"v=STSv1; id=20160831085700Z;", "20160831085700Z", ""},
        {"v=STSv1; id=20160831085700Z", "20160831085700Z", ""},
        {"v=STSv1;id=abc", "abc", ""},
        {"v=STSv1 ; id=abc", "abc", ""},  // sts-field-delim = *WSP ";" *WSP
        {"v=STSv1\t;\tid=abc\t;\t", "abc", ""},
        {"v=STSv1; id=abc ;", "abc", ""},
        {"v=STSv1; id=" + id32, id32, ""},
        {"v=STSv1; id=1", "1", ""},
        {"v=STSv1; ext=value; id=abc", "abc", ""},               // field order is free
        {"v=STSv1; id=abc; x-y.z_1=!\"#$%:<>?@[]~", "abc", ""},  // extension ignored
        {"v=STSv1; id=first; id=second", "first", ""},           // a repeated field: first wins
        {"v=STSv1; id=abc; v=STSv2", "abc", ""},                 // a repeated v is ignored
        {"v=STSv1; id=abc; " + std::string(32, 'n') + "=1", "abc", ""},
        // Version first, exactly.
        {"", "", "does not start with"},
        {"id=abc; v=STSv1", "", "does not start with"},
        {" v=STSv1; id=abc", "", "does not start with"},
        {"V=STSv1; id=abc", "", "does not start with"},
        {"v=stsv1; id=abc", "", "does not start with"},
        {"v=STSv2; id=abc", "", "does not start with"},
        {"v=STSv10; id=abc", "", "does not start with"},
        {"v = STSv1; id=abc", "", "does not start with"},
        // The id.
        {"v=STSv1", "", "no id"},
        {"v=STSv1;", "", "no id"},
        {"v=STSv1; ext=1", "", "no id"},
        {"v=STSv1; id=", "", "id \"\""},
        {"v=STSv1; id=" + id32 + "A", "", "1 to 32"},
        {"v=STSv1; id=abc-def", "", "1 to 32"},
        {"v=STSv1; id=abc=def", "", "1 to 32"},
        {"v=STSv1; ID=abc", "", "no id"},            // %s"id=": ID is an extension
        {"v=STSv1; id =abc", "", "not name=value"},  // no WSP inside a field
        {"v=STSv1; id= abc", "", "1 to 32"},
        // Delimiters: ";" between fields, one optional at the end.
        {"v=STSv1 id=abc", "", "expected \";\""},
        {"v=STSv1;; id=abc", "", "empty field"},
        {"v=STSv1; id=abc;;", "", "empty field"},
        {"v=STSv1; id=abc; ;", "", "empty field"},
        {"v=STSv1; id=abc ", "", "expected \";\""},
        {"v=STSv1; id=abc\r\n", "", "1 to 32"},
        {"v=STSv1,id=abc", "", "does not start with"},
        // Extensions must be valid even though they are ignored.
        {"v=STSv1; id=abc; ext", "", "not name=value"},
        {"v=STSv1; id=abc; ext=", "", "invalid value"},
        {"v=STSv1; id=abc; =x", "", "not a valid extension name"},
        {"v=STSv1; id=abc; _x=1", "", "not a valid extension name"},
        {"v=STSv1; id=abc; " + std::string(33, 'n') + "=1", "", "not a valid extension name"},
        {"v=STSv1; id=abc; a=b=c", "", "invalid value"},
        {"v=STSv1; id=abc; a=\x7f", "", "invalid value"},
        {"v=STSv1; id=abc; a=\xc3\xbc", "", "invalid value"},
        {std::string("v=STSv1; id=abc; a=\0", 20), "", "invalid value"},
        {std::string("v=STSv1; id=a\0bc", 16), "", "1 to 32"},
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT("record \"" << row.record << "\"") {
            std::string why;
            const auto txt = parse_sts_txt(row.record, &why);
            BOOST_TEST(txt.has_value() == !row.id.empty());
            if (txt) {
                BOOST_TEST(txt->id == row.id);
            } else {
                BOOST_TEST(why.find(row.why) != std::string::npos, why);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(why_is_optional) {
    BOOST_TEST(!parse_sts_txt("v=STSv1"));
    BOOST_TEST(parse_sts_txt("v=STSv1; id=1")->id == "1");
}

BOOST_AUTO_TEST_CASE(discovery_rows) {
    using Kind = TxtDiscovery::Kind;
    struct Row {
        std::string name;
        std::vector<std::string> records;
        Kind kind;
        std::string id;
        std::string why;
    };
    const std::vector<Row> rows = {
        {"no records", {}, Kind::none, "", ""},
        {"only other records", {"v=spf1 -all", "google-site-verification=x"}, Kind::none, "", ""},
        {"a later version only", {"v=STSv2; id=1"}, Kind::none, "", ""},
        {"STSv10 is not STSv1", {"v=STSv10; id=1"}, Kind::none, "", ""},
        {"lower-case version is not STSv1", {"v=stsv1; id=1"}, Kind::none, "", ""},
        {"one valid", {"v=STSv1; id=abc"}, Kind::found, "abc", ""},
        {"one valid among others",
         {"v=spf1 -all", "v=STSv1; id=abc;", "x"},
         Kind::found,
         "abc",
         ""},
        {"space before the first ;", {"v=STSv1 ; id=abc"}, Kind::found, "abc", ""},
        {"the only one invalid", {"v=STSv1; id=a-b"}, Kind::invalid, "", "1 to 32"},
        {"version alone", {"v=STSv1"}, Kind::invalid, "", "no id"},
        {"two valid", {"v=STSv1; id=a", "v=STSv1; id=b"}, Kind::invalid, "", "2 TXT records"},
        {"two identical", {"v=STSv1; id=a", "v=STSv1; id=a"}, Kind::invalid, "", "2 TXT records"},
        {"one valid, one invalid",
         {"v=STSv1; id=a", "v=STSv1; id="},
         Kind::invalid,
         "",
         "2 TXT records"},
        {"three",
         {"v=STSv1;", "v=STSv1; id=a", "v=STSv1 garbage"},
         Kind::invalid,
         "",
         "3 TXT records"},
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT(row.name) {
            const TxtDiscovery d = discover_sts(row.records);
            BOOST_TEST(static_cast<int>(d.kind) == static_cast<int>(row.kind));
            BOOST_TEST(d.id == row.id);
            if (row.kind == Kind::invalid) {
                BOOST_TEST(d.why.find(row.why) != std::string::npos, d.why);
            } else {
                BOOST_TEST(d.why.empty());
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

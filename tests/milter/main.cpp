#define BOOST_TEST_MODULE dane_sts_milter_protocol
#include <boost/test/unit_test.hpp>

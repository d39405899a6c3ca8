#define BOOST_TEST_MODULE dane_sts_milter_integration
#include <boost/test/unit_test.hpp>

#define BOOST_TEST_MODULE dane_sts_milter_unit
#include <boost/test/unit_test.hpp>

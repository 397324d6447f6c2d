#include "collective/types.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace mfusim::collective {
namespace {

std::string error_of(void (*f)()) {
  try {
    f();
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CollectiveTypes, NamesRoundTripAndAcceptNcclSpellings) {
  for (CollectiveOp op : all_ops()) EXPECT_EQ(parse_op(to_string(op)), op);
  for (Algorithm a : all_algorithms()) EXPECT_EQ(parse_algorithm(to_string(a)), a);
  for (Protocol p : all_protocols()) EXPECT_EQ(parse_protocol(to_string(p)), p);
  EXPECT_EQ(parse_op("allreduce"), CollectiveOp::kAllReduce);
  EXPECT_EQ(parse_op("All_Gather"), CollectiveOp::kAllGather);
  EXPECT_EQ(parse_op("alltoallv"), CollectiveOp::kAllToAllV);
  EXPECT_EQ(parse_algorithm("NVLSTree"), Algorithm::kNvlsTree);
  EXPECT_EQ(parse_algorithm("CollnetDirect"), Algorithm::kCollNetDirect);
  EXPECT_EQ(parse_protocol("ll128"), Protocol::kLl128);
  EXPECT_EQ(parse_protocol("SIMPLE"), Protocol::kSimple);
  EXPECT_EQ(parse_fidelity("flow"), Fidelity::kFlow);
  EXPECT_EQ(parse_algorithms("ring,tree"), (std::vector<Algorithm>{Algorithm::kRing, Algorithm::kTree}));
}

TEST(CollectiveTypes, UnknownNamesListTheValidOnes) {
  EXPECT_EQ(error_of([] { parse_op("all-reduse"); }),
            "unknown collective 'all-reduse' (did you mean 'all-reduce'?); valid: all-reduce, all-gather, "
            "reduce-scatter, broadcast, reduce, all-to-all, all-to-allv, sendrecv");
  EXPECT_EQ(error_of([] { parse_algorithm("rign"); }).substr(0, 47), "unknown algorithm 'rign' (did you mean 'ring'?)");
  EXPECT_EQ(error_of([] { parse_algorithms("ring,,tree"); }), "empty algorithm in the list 'ring,,tree'");
}

TEST(CollectiveTypes, BusBandwidthFactorsAreNcclTests) {
  // nccl-tests doc/PERFORMANCE.md: all-reduce 2(n-1)/n, all-gather / reduce-scatter / all-to-all (n-1)/n,
  // broadcast / reduce / sendrecv 1.
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CollectiveOp::kAllReduce, 8), 2.0 * 7.0 / 8.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CollectiveOp::kAllGather, 8), 7.0 / 8.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CollectiveOp::kReduceScatter, 16), 15.0 / 16.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CollectiveOp::kAllToAll, 4), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CollectiveOp::kBroadcast, 8), 1.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CollectiveOp::kReduce, 8), 1.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CollectiveOp::kSendRecv, 2), 1.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CollectiveOp::kAllReduce, 1), 0.0);
}

}  // namespace
}  // namespace mfusim::collective

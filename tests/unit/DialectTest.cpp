//===- DialectTest.cpp - attnres dialect: parse, verify, build ------------===//

#include "dialect/AttnResOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {

class DialectTest : public ::testing::Test {
protected:
  DialectTest() {
    context.loadDialect<attnres::AttnResDialect, func::FuncDialect>();
  }
  OwningOpRef<ModuleOp> parse(StringRef text) {
    return parseSourceString<ModuleOp>(text, &context);
  }
  MLIRContext context;
};

TEST_F(DialectTest, ParsesAndVerifiesForward) {
  auto module = parse(R"mlir(
    func.func @f(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
        -> tensor<?x4096xbf16> {
      %h, %a, %r = attnres.forward %v, %q, %g
          : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
          -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
      return %h : tensor<?x4096xbf16>
    })mlir");
  ASSERT_TRUE(module);
  int count = 0;
  module->walk([&](attnres::ForwardOp op) {
    ++count;
    EXPECT_EQ(attnres::getProblemShape(op.getValues()).numSources, 8);
    EXPECT_EQ(attnres::getProblemShape(op.getValues()).width, 4096);
    EXPECT_EQ(op.getNormalizer(), attnres::Normalizer::softmax);
    EXPECT_FLOAT_EQ(op.getEps().convertToFloat(), 1e-6f);
  });
  EXPECT_EQ(count, 1);
}

TEST_F(DialectTest, RejectsMismatchedWidth) {
  context.getDiagEngine().registerHandler([](Diagnostic &) {});
  auto module = parse(R"mlir(
    func.func @f(%v: tensor<8x?x4096xbf16>, %q: tensor<4095xf32>, %g: tensor<4096xf32>) {
      %h, %a, %r = attnres.forward %v, %q, %g
          : (tensor<8x?x4096xbf16>, tensor<4095xf32>, tensor<4096xf32>)
          -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
      return
    })mlir");
  EXPECT_FALSE(module);
}

} // namespace

//===- PassesTest.cpp - decompose, fuse, derive-backward, specialize ------===//

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <functional>

using namespace mlir;

namespace {

// examples/attnres.mlir: the fused forward and backward.
constexpr const char *kFused = R"mlir(
func.func @attnres_forward(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>,
                           %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {eps = 1.0e-06 : f32}
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h, %alpha, %rstd : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}
func.func @attnres_backward(%dh: tensor<?x4096xbf16>, %v: tensor<8x?x4096xbf16>,
                            %q: tensor<4096xf32>, %g: tensor<4096xf32>,
                            %alpha: tensor<?x8xf32>, %rstd: tensor<?x8xf32>)
    -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd {eps = 1.0e-06 : f32}
      : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>,
         tensor<4096xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
      -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
  return %dv, %dq, %dg : tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>
}
)mlir";

// examples/attnres_graph.mlir, with the statistics marked as saved.
constexpr const char *kGraph = R"mlir(
func.func @attnres_forward_graph(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>,
                                 %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32> {attnres.no_grad},
        tensor<?x8xf32> {attnres.no_grad}) attributes {attnres.differentiate} {
  %rstd = attnres.rms_rstd %v {eps = 1.0e-06 : f32}
      : (tensor<8x?x4096xbf16>) -> tensor<?x8xf32>
  %s = attnres.score %v, %rstd, %q, %g
      : (tensor<8x?x4096xbf16>, tensor<?x8xf32>, tensor<4096xf32>, tensor<4096xf32>)
      -> tensor<?x8xf32>
  %alpha = attnres.depth_softmax %s : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %h = attnres.mix %alpha, %v
      : (tensor<?x8xf32>, tensor<8x?x4096xbf16>) -> tensor<?x4096xbf16>
  return %h, %alpha, %rstd : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}
)mlir";

class PassesTest : public ::testing::Test {
protected:
  PassesTest() {
    context.loadDialect<attnres::AttnResDialect, arith::ArithDialect,
                        func::FuncDialect, tensor::TensorDialect>();
  }

  OwningOpRef<ModuleOp> parse(StringRef text) {
    return parseSourceString<ModuleOp>(text, &context);
  }

  static std::string print(ModuleOp module) {
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os);
    return text;
  }

  /// Runs the passes `build` adds on `module`; collects error messages.
  LogicalResult run(ModuleOp module,
                    const std::function<void(PassManager &)> &build) {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      if (diag.getSeverity() == DiagnosticSeverity::Error)
        errors.push_back(diag.str());
      return success();
    });
    PassManager pm(&context);
    build(pm);
    return pm.run(module);
  }

  template <typename OpT>
  static int count(Operation *root) {
    int n = 0;
    root->walk([&](OpT) { ++n; });
    return n;
  }

  MLIRContext context;
  std::vector<std::string> errors;
};

TEST_F(PassesTest, DecomposeThenFuseRoundTripsFusedOps) {
  auto module = parse(kFused);
  ASSERT_TRUE(module);
  std::string original = print(*module);
  ASSERT_TRUE(succeeded(run(*module, [](PassManager &pm) {
    pm.addPass(attnres::createAttnResDecomposePass());
  })));
  EXPECT_EQ(count<attnres::ForwardOp>(*module), 0);
  EXPECT_EQ(count<attnres::BackwardOp>(*module), 0);
  EXPECT_EQ(count<attnres::MixGradOp>(*module), 1);
  EXPECT_EQ(count<arith::TruncFOp>(*module), 1);
  ASSERT_TRUE(succeeded(run(*module, [](PassManager &pm) {
    pm.addPass(attnres::createAttnResFusePass());
  })));
  EXPECT_EQ(print(*module), original);
}

TEST_F(PassesTest, FuseThenDecomposeRoundTripsGraph) {
  auto module = parse(kGraph);
  ASSERT_TRUE(module);
  std::string original = print(*module);
  ASSERT_TRUE(succeeded(run(*module, [](PassManager &pm) {
    pm.addPass(attnres::createAttnResFusePass());
  })));
  EXPECT_EQ(count<attnres::ForwardOp>(*module), 1);
  EXPECT_EQ(count<attnres::MixOp>(*module), 0);
  ASSERT_TRUE(succeeded(run(*module, [](PassManager &pm) {
    pm.addPass(attnres::createAttnResDecomposePass());
  })));
  EXPECT_EQ(print(*module), original);
}

TEST_F(PassesTest, DerivedBackwardFusesIntoOneBackwardOp) {
  auto module = parse(kGraph);
  ASSERT_TRUE(module);
  ASSERT_TRUE(succeeded(run(*module, [](PassManager &pm) {
    pm.addPass(attnres::createAttnResDeriveBackwardPass());
  })));
  auto vjp = module->lookupSymbol<func::FuncOp>("attnres_forward_graph_vjp");
  ASSERT_TRUE(vjp);
  EXPECT_EQ(vjp.getNumArguments(), 6u);
  EXPECT_EQ(vjp.getNumResults(), 3u);
  EXPECT_EQ(count<attnres::MixOp>(vjp), 0); // h is not needed.
  EXPECT_EQ(count<attnres::ScoreGradOp>(vjp), 1);
  EXPECT_EQ(count<arith::AddFOp>(vjp), 2);

  ASSERT_TRUE(succeeded(run(*module, [](PassManager &pm) {
    pm.addPass(attnres::createAttnResFusePass());
  })));
  EXPECT_EQ(count<attnres::BackwardOp>(vjp), 1);
  EXPECT_EQ(count<attnres::MixGradOp>(vjp), 0);
  EXPECT_EQ(count<arith::AddFOp>(vjp), 0);
}

TEST_F(PassesTest, DecomposeRejectsVariantsByName) {
  auto module = parse(R"mlir(
    func.func @f(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>)
        -> tensor<?x64xbf16> {
      %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<sigmoid>}
          : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
          -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
      return %h : tensor<?x64xbf16>
    })mlir");
  ASSERT_TRUE(module);
  EXPECT_TRUE(failed(run(*module, [](PassManager &pm) {
    pm.addPass(attnres::createAttnResDecomposePass());
  })));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(
      errors[0].find("normalizer = sigmoid is declared but not lowered yet"),
      std::string::npos)
      << errors[0];
}

TEST_F(PassesTest, SpecializeRefinesDynamicSizes) {
  auto module = parse(R"mlir(
    func.func @f(%v: tensor<?x?x?xbf16>, %q: tensor<?xf32>, %g: tensor<?xf32>)
        -> tensor<?x?xbf16> {
      %h, %a, %r = attnres.forward %v, %q, %g
          : (tensor<?x?x?xbf16>, tensor<?xf32>, tensor<?xf32>)
          -> (tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
      return %h : tensor<?x?xbf16>
    })mlir");
  ASSERT_TRUE(module);
  ASSERT_TRUE(succeeded(run(*module, [](PassManager &pm) {
    attnres::AttnResSpecializePassOptions options;
    options.numSources = 8;
    options.width = 4096;
    options.dtype = "bf16";
    pm.addPass(attnres::createAttnResSpecializePass(options));
  })));
  auto func = module->lookupSymbol<func::FuncOp>("f");
  ASSERT_TRUE(func);
  std::string type;
  llvm::raw_string_ostream os(type);
  func.getFunctionType().print(os);
  EXPECT_EQ(type, "(tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) "
                  "-> tensor<?x4096xbf16>");
}

TEST_F(PassesTest, SpecializeReportsMismatches) {
  constexpr const char *text = R"mlir(
    func.func @f(%v: tensor<4x?x?xf16>, %q: tensor<?xf32>, %g: tensor<?xf32>)
        -> tensor<?x?xf16> {
      %h, %a, %r = attnres.forward %v, %q, %g
          : (tensor<4x?x?xf16>, tensor<?xf32>, tensor<?xf32>)
          -> (tensor<?x?xf16>, tensor<?x4xf32>, tensor<?x4xf32>)
      return %h : tensor<?x?xf16>
    })mlir";
  struct Case {
    int64_t n, d;
    const char *dtype;
    const char *message;
  } cases[] = {
      {8, 0, "", "spec says N = 8 but function @f has N = 4 in argument #0"},
      {0, 0, "bf16",
       "spec says dtype = bf16 but function @f has element type f16 in "
       "argument #0"},
      {65, 0, "", "n = 65 is outside [1, 64]"},
      {0, -1, "", "d = -1 is outside [1, 16384]"},
      {0, 0, "fp8", "dtype = 'fp8' is not one of f32, f16, bf16"},
  };
  for (const Case &c : cases) {
    errors.clear();
    auto module = parse(text);
    ASSERT_TRUE(module);
    EXPECT_TRUE(failed(run(*module, [&](PassManager &pm) {
      attnres::AttnResSpecializePassOptions options;
      options.numSources = c.n;
      options.width = c.d;
      options.dtype = c.dtype;
      pm.addPass(attnres::createAttnResSpecializePass(options));
    }))) << c.message;
    ASSERT_EQ(errors.size(), 1u) << c.message;
    EXPECT_NE(errors[0].find(c.message), std::string::npos) << errors[0];
  }
}

} // namespace

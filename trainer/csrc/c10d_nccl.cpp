// The NCCL process group (compiled with USE_C10D_NCCL when the CUDA and NCCL headers are found).
#include <chrono>
#include <stdexcept>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

c10::intrusive_ptr<c10d::Backend> wit_make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                std::chrono::milliseconds timeout) {
#ifdef USE_C10D_NCCL
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
#else
  (void)store, (void)rank, (void)world, (void)timeout;
  throw std::runtime_error("this wit-train was built without NCCL (no libtorch_cuda or nccl.h at build time)");
#endif
}

bool wit_nccl_built() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

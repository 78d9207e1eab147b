// See c10d_shim.h. The process groups are torch's own ProcessGroupGloo and ProcessGroupNCCL,
// used through the c10d::Backend interface; only their constructors are named here.
#include "c10d_shim.h"

#include <chrono>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

// Defined in c10d_nccl.cpp (or as "not built with NCCL" when the CUDA headers were absent).
c10::intrusive_ptr<c10d::Backend> wit_make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                std::chrono::milliseconds timeout);
bool wit_nccl_built();

struct WitGroup {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  int world;
};

namespace {

void set_error(char* err, size_t len, const std::string& message) {
  if (err == nullptr || len == 0) return;
  size_t n = message.size() < len - 1 ? message.size() : len - 1;
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

template <typename F>
int guarded(char* err, size_t len, F&& body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    set_error(err, len, e.what_without_backtrace());
  } catch (const std::exception& e) {
    set_error(err, len, e.what());
  } catch (...) {
    set_error(err, len, "unknown C++ exception");
  }
  return 1;
}

void wait(const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait();
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

extern "C" {

WitGroup* wit_c10d_new(const char* backend, const char* addr, int port, int rank, int world, int64_t timeout_ms,
                       char* err, size_t err_len) {
  WitGroup* group = nullptr;
  int rc = guarded(err, err_len, [&] {
    const std::string name(backend), host(addr);
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(port);
    options.isServer = rank == 0;
    options.numWorkers = static_cast<std::size_t>(world);
    options.waitWorkers = true;
    options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(host, options);
    c10::intrusive_ptr<c10d::Backend> made;
    if (name == "gloo") {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
      const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
      if (interface != nullptr && *interface != '\0') {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
      } else if (is_loopback(host)) {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
      } else {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      made = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, gloo_options);
    } else if (name == "nccl") {
      made = wit_make_nccl(store, rank, world, timeout);
    } else {
      throw std::runtime_error("unknown backend " + name + " (gloo or nccl)");
    }
    group = new WitGroup{store, made, world};
  });
  return rc == 0 ? group : nullptr;
}

void wit_c10d_free(WitGroup* group) {
  delete group;
}

int wit_c10d_all_reduce_sum(WitGroup* group, void* tensor, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    std::vector<at::Tensor> tensors{*static_cast<at::Tensor*>(tensor)};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    wait(group->backend->allreduce(tensors, options));
  });
}

int wit_c10d_all_gather(WitGroup* group, void* output, void* input, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    at::Tensor& out = *static_cast<at::Tensor*>(output);
    std::vector<at::Tensor> inputs{*static_cast<at::Tensor*>(input)};
    TORCH_CHECK(out.is_contiguous(), "all_gather: the output tensor must be contiguous");
    TORCH_CHECK(out.size(0) == inputs[0].size(0) * group->world, "all_gather: output has ", out.size(0),
                " rows, world size ", group->world, " x input rows ", inputs[0].size(0), " needed");
    std::vector<std::vector<at::Tensor>> outputs{out.chunk(group->world, 0)};
    wait(group->backend->allgather(outputs, inputs));
  });
}

int wit_c10d_broadcast(WitGroup* group, void* tensor, int root, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    std::vector<at::Tensor> tensors{*static_cast<at::Tensor*>(tensor)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    wait(group->backend->broadcast(tensors, options));
  });
}

int wit_c10d_barrier(WitGroup* group, char* err, size_t err_len) {
  return guarded(err, err_len, [&] { wait(group->backend->barrier()); });
}

int wit_c10d_has_nccl(void) {
  return wit_nccl_built() ? 1 : 0;
}

}  // extern "C"

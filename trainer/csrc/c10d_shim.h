// wit's shim over PyTorch's c10d (the collectives engine of torch.distributed), compiled against
// the torch headers and libraries tch links. Plain C functions so that Rust can call them; tensors
// are passed as `at::Tensor*` (tch's `C_tensor`). Every function returns 0 on success, or non-zero
// with a message (without C++ backtrace) written into `err` (always NUL-terminated).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct WitGroup WitGroup;

// Rendezvous through a TCPStore at addr:port (rank 0 serves it) and create a process group of
// `backend` ("gloo" or "nccl"); collectives and rendezvous fail after `timeout_ms`.
WitGroup* wit_c10d_new(const char* backend, const char* addr, int port, int rank, int world,
                       int64_t timeout_ms, char* err, size_t err_len);
void wit_c10d_free(WitGroup* group);
// In-place sum over ranks.
int wit_c10d_all_reduce_sum(WitGroup* group, void* tensor, char* err, size_t err_len);
// `output` (world * n rows) receives every rank's `input` (n rows), rank order.
int wit_c10d_all_gather(WitGroup* group, void* output, void* input, char* err, size_t err_len);
// In place: every rank receives `root`'s tensor.
int wit_c10d_broadcast(WitGroup* group, void* tensor, int root, char* err, size_t err_len);
int wit_c10d_barrier(WitGroup* group, char* err, size_t err_len);
// 1 when the shim was compiled with NCCL (libtorch_cuda, nccl.h), else 0.
int wit_c10d_has_nccl(void);

#ifdef __cplusplus
}
#endif

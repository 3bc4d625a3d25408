// The op recorder's native half (grader.boundary.oprecord): a thread-local RecordFunction
// callback, which sees every operator the dispatcher runs on the recording thread, at every
// nesting level, for well under a microsecond each. The Python modes it replaces
// (TorchDispatchMode and TorchFunctionMode) cost 6-12 us per op.
//
// A C interface (loaded with ctypes), so that building it needs torch's headers and a C++
// compiler but not pybind11 or Python's headers. One recording at a time per process.

#include <ATen/core/ivalue.h>
#include <ATen/record_function.h>

#include <cstring>
#include <set>
#include <string>
#include <string_view>

namespace {

// The USER_SCOPE range that `oprec_check` opens: seen only while this callback is live.
constexpr const char* kMarker = "dlgrade::oprecord_check";

// All of it per thread: the callback is thread-local, and a grading process records its
// canaries' expectations in several threads at once.
// (std::less<> looks names up without making a string: most ops repeat a name.)
using Names = std::set<std::string, std::less<>>;

struct Recording {
  Names all_names;  // every op, nested ones included ("mm" in "matmul")
  Names top_names;  // ops called from outside any op (from Python)
  long long top_count = 0;
  bool autograd = false;
  long long marks = 0;
  at::CallbackHandle handle = 0;
  long long generation = 0;
  int depth = 0;
};
thread_local Recording rec;

// An operator is "namespace::name" (aten::mm); the autograd engine opens
// "autograd::engine::evaluate_function: MmBackward0" ranges around the nodes it runs; other
// ranges (a Python binding's own, such as "detach" around aten::detach) are neither.
enum Kind { kOp, kEngine, kOther };

Kind kind_of(const char* name, const char** base) {
  const char* sep = std::strstr(name, "::");
  if (sep == nullptr || sep == name) return kOther;
  if (std::strncmp(name, "autograd::", 10) == 0) return kEngine;
  const char* last = std::strrchr(name, ':');
  *base = last + 1;
  return std::strchr(*base, ' ') == nullptr && **base != '\0' ? kOp : kOther;
}

bool tracks_grad(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    return t.defined() && t.requires_grad();
  }
  if (v.isTensorList()) {
    for (const at::Tensor& t : v.toTensorVector()) {
      if (t.defined() && t.requires_grad()) return true;
    }
    return false;
  }
  if (v.isList()) {  // Tensor?[] (index) and other lists: one level, as the Python recorder
    for (const c10::IValue& e : v.toListRef()) {
      if (e.isTensor() && e.toTensor().defined() && e.toTensor().requires_grad()) return true;
    }
  }
  return false;
}

void add(Names& names, const char* name) {
  const std::string_view view(name);
  if (names.find(view) == names.end()) names.emplace(view);
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  switch (fn.scope()) {
    case at::RecordScope::USER_SCOPE:
      if (std::strcmp(fn.name(), kMarker) == 0) ++rec.marks;
      return nullptr;
    case at::RecordScope::BACKWARD_FUNCTION:  // a node run by the autograd engine
      rec.autograd = true;
      return nullptr;
    case at::RecordScope::FUNCTION:
      break;
    default:
      return nullptr;
  }
  const char* name = nullptr;
  const Kind kind = kind_of(fn.name(), &name);
  if (kind == kEngine) rec.autograd = true;
  if (kind != kOp) return nullptr;
  const bool top = rec.depth++ == 0;
  if (top) ++rec.top_count;
  add(rec.all_names, name);
  if (top) add(rec.top_names, name);
  if (!rec.autograd) {
    for (const c10::IValue& v : fn.inputs()) {
      if (tracks_grad(v)) {
        rec.autograd = true;
        break;
      }
    }
  }
  return nullptr;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext*) {
  const char* name = nullptr;
  if (fn.scope() == at::RecordScope::FUNCTION && kind_of(fn.name(), &name) == kOp &&
      rec.depth > 0) {
    --rec.depth;
  }
}

long long copy_out(const Names& names, char* buf, long long cap) {
  std::string joined;
  for (const std::string& n : names) {
    joined += n;
    joined += '\n';
  }
  const long long size = static_cast<long long>(joined.size());
  if (size <= cap) std::memcpy(buf, joined.data(), joined.size());
  return size;
}

}  // namespace

extern "C" {

// Start recording on this thread; returns the recording's generation (> 0), or -1 when a
// recording is already running on it.
long long oprec_start() {
  if (rec.handle != 0) return -1;
  const long long generation = rec.generation + 1;
  rec = Recording();
  rec.generation = generation;
  rec.handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&on_start, &on_end)
          .needsInputs(true)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION,
                   at::RecordScope::USER_SCOPE}));
  return generation;
}

// Whether the recording `gen` is still live on this thread: the same recording, record
// functions enabled, and the callback sees a range opened now.
int oprec_check(long long gen) {
  if (rec.handle == 0 || gen != rec.generation || !at::isRecordFunctionEnabled()) return 0;
  const long long before = rec.marks;
  {
    at::RecordFunction guard(at::RecordScope::USER_SCOPE);
    if (guard.isActive()) guard.before(kMarker);
  }
  return rec.marks > before ? 1 : 0;
}

// The recorded names, '\n'-separated, into buf (cap bytes); returns the size needed.
long long oprec_names(int top_only, char* buf, long long cap) {
  return copy_out(top_only ? rec.top_names : rec.all_names, buf, cap);
}

// Stop recording on this thread; then the count and the autograd flag into out[0] and
// out[1], and oprec_names(0, buf, cap): the end of a recording in one call.
long long oprec_finish(long long* out, char* buf, long long cap) {
  if (rec.handle != 0) at::removeCallback(rec.handle);
  rec.handle = 0;
  out[0] = rec.top_count;
  out[1] = rec.autograd ? 1 : 0;
  return copy_out(rec.all_names, buf, cap);
}

}  // extern "C"

#pragma once
// A small RAII layer over the HDF5 C API, private to the io module.
#include <hdf5.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace plexus::io::h5 {

// Owns one hid_t and closes it with the right function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      close_ = o.close_;
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  // Gives the id up without closing it.
  hid_t release() { return std::exchange(id_, -1); }
  hid_t id() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

// The innermost HDF5 error on the stack, which is the most specific ("data error detected by Fletcher32
// checksum"); for a failed write, the system's message ("No space left on device").
inline std::string reason() {
  std::string r;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        if (e->desc && *e->desc) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &r);
  const auto m = r.find("error message = '");
  if (m != std::string::npos) {
    const auto start = m + 17, end = r.find('\'', start);
    r = r.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return r;
}

inline std::string failed(const std::string& what) {
  const std::string r = reason();
  return "HDF5: " + what + " failed" + (r.empty() ? "" : " (" + r + ")");
}
inline hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw std::runtime_error(failed(what));
  return id;
}
inline void check_status(herr_t rc, const std::string& what) {
  if (rc < 0) throw std::runtime_error(failed(what));
}

inline Handle dataspace(hid_t id) {
  return {check(id, "dataspace"), H5Sclose};
}
inline Handle datatype(hid_t id) {
  return {check(id, "datatype"), H5Tclose};
}
inline Handle plist(hid_t id) {
  return {check(id, "property list"), H5Pclose};
}
inline Handle group(hid_t id, const std::string& name) {
  return {check(id, "group " + name), H5Gclose};
}
inline Handle dataset(hid_t id, const std::string& name) {
  return {check(id, "dataset " + name), H5Dclose};
}
inline Handle attribute(hid_t id, const std::string& name) {
  return {check(id, "attribute " + name), H5Aclose};
}

template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, double>)
    return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, float>)
    return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return H5T_NATIVE_UINT64;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return H5T_NATIVE_UINT32;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return H5T_NATIVE_UINT8;
  else
    static_assert(sizeof(T) == 0, "no HDF5 type for T");
}

// Does `path` (absolute, e.g. "/spikes/E") name an existing link? Checks each component.
inline bool exists(hid_t file, const std::string& path) {
  std::string sofar;
  std::size_t pos = 1;
  while (pos <= path.size()) {
    const auto next = path.find('/', pos);
    sofar = path.substr(0, next);
    if (H5Lexists(file, sofar.c_str(), H5P_DEFAULT) <= 0) return false;
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return true;
}

// Silences HDF5's automatic error printing while alive (we report errors ourselves).
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

}  // namespace plexus::io::h5

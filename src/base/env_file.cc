// The real file system behind Env's file handles (env_file.h), and WriteFileAtomically,
// which is built only on Env's primitives so that a fault-injecting Env sees every step.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>

#include "src/base/env.h"
#include "src/base/strings.h"

namespace edgevault::base {
namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(std::string_view data) override {
    if (fd_ < 0) return Closed();
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0) return Closed();
    if (::fsync(fd_) != 0) return ErrnoStatus("fsync", path_, errno);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoStatus("close", path_, errno);
    return absl::OkStatus();
  }

  const std::string& path() const override { return path_; }

 private:
  absl::Status Closed() const {
    return absl::FailedPreconditionError(StrCat(path_, ": file already closed"));
  }

  std::string path_;
  int fd_;
};

std::string ParentDir(const std::string& path) {
  // (A std::filesystem::path, not a std::string: `str = "."` here trips GCC 12's
  // -Wrestrict false positive at -O2, which -Werror turns into a Release build failure.)
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  return dir.string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<WritableFile>> Env::NewWritableFile(const std::string& path,
                                                                   FileOpen how, uint32_t mode) {
  int flags = O_WRONLY | O_CLOEXEC;
  switch (how) {
    case FileOpen::kCreateExclusive: flags |= O_CREAT | O_EXCL | O_APPEND; break;
    case FileOpen::kTruncate: flags |= O_CREAT | O_TRUNC; break;
    case FileOpen::kAppendExisting: flags |= O_APPEND; break;
  }
  int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) return ErrnoStatus(how == FileOpen::kCreateExclusive ? "create" : "open", path, errno);
  // open() applies the umask; the caller asked for exactly `mode`.
  if (how != FileOpen::kAppendExisting && ::fchmod(fd, mode) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("chmod", path, err);
  }
  return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
}

absl::Status Env::SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync", dir, err);
  return absl::OkStatus();
}

absl::Status Env::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", to, errno);
  return absl::OkStatus();
}

absl::Status Env::Truncate(const std::string& path, uint64_t size) {
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
    return ErrnoStatus("truncate", path, errno);
  }
  return absl::OkStatus();
}

absl::Status Env::WriteFileAtomically(const std::string& path, std::string_view data,
                                      uint32_t mode) {
  // Unique per call, not just per process: two threads writing the same path must not
  // share (and truncate) one temporary file.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = StrCat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                      NewWritableFile(tmp, FileOpen::kTruncate, mode));
  absl::Status st = file->Append(data);
  if (st.ok()) st = file->Sync();
  if (absl::Status closed = file->Close(); st.ok()) st = closed;
  if (st.ok()) st = Rename(tmp, path);
  if (!st.ok()) {
    (void)DeleteFile(tmp);  // best effort: a leftover temporary file is never read
    return st;
  }
  // Make the rename durable. Until this returns OK a crash may bring the old content back.
  return SyncDir(ParentDir(path));
}

}  // namespace edgevault::base

#include "src/base/env.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/strings.h"

namespace edgevault::base {
namespace {

namespace fs = std::filesystem;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::path(testing::TempDir()) / "env_test.XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Sub(std::string_view name) const { return StrCat(path_, "/", name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sets the process umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

std::string Msg(const absl::Status& s) { return std::string(ToStd(s.message())); }

bool IsLowerHex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// ---- SimulatedEnv: clock -------------------------------------------------------------

TEST(SimulatedEnvTest, StartsAtTheGivenTime) {
  SimulatedEnv env(kStart);
  EXPECT_EQ(env.Now(), kStart);
  EXPECT_EQ(env.MonotonicNow(), absl::ZeroDuration());
  EXPECT_EQ(SimulatedEnv().Now(), absl::FromUnixSeconds(1'800'000'000));
}

TEST(SimulatedEnvTest, ClockOnlyMovesWhenAdvanced) {
  SimulatedEnv env(kStart);
  const absl::Time t0 = env.Now();
  const absl::Duration m0 = env.MonotonicNow();
  // Real time passes; simulated time must not.
  absl::SleepFor(absl::Milliseconds(3));
  env.RandomHex(16);
  EXPECT_EQ(env.Now(), t0);
  EXPECT_EQ(env.MonotonicNow(), m0);

  env.AdvanceBy(absl::Seconds(5));
  EXPECT_EQ(env.Now(), kStart + absl::Seconds(5));
  EXPECT_EQ(env.MonotonicNow(), absl::Seconds(5));
  env.AdvanceBy(absl::Milliseconds(1));
  EXPECT_EQ(env.Now(), kStart + absl::Milliseconds(5001));
  EXPECT_EQ(env.MonotonicNow(), absl::Milliseconds(5001));
}

TEST(SimulatedEnvTest, SetTimeForwardMovesBothClocks) {
  SimulatedEnv env(kStart);
  env.SetTime(kStart + absl::Minutes(2));
  EXPECT_EQ(env.Now(), kStart + absl::Minutes(2));
  EXPECT_EQ(env.MonotonicNow(), absl::Minutes(2));
}

// Regression: SetTime() to an earlier wall time used to make MonotonicNow() run
// backwards (it was computed as now - start), breaking every deadline built on it.
TEST(SimulatedEnvTest, MonotonicClockNeverRunsBackwards) {
  SimulatedEnv env(kStart);
  env.AdvanceBy(absl::Seconds(10));
  env.SetTime(kStart - absl::Hours(1));  // wall clock stepped back
  EXPECT_EQ(env.Now(), kStart - absl::Hours(1));
  EXPECT_EQ(env.MonotonicNow(), absl::Seconds(10));
  env.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(env.MonotonicNow(), absl::Seconds(11));
  env.AdvanceBy(-absl::Seconds(30));
  EXPECT_EQ(env.Now(), kStart - absl::Hours(1) - absl::Seconds(29));
  EXPECT_EQ(env.MonotonicNow(), absl::Seconds(11));
}

TEST(SimulatedEnvTest, ConcurrentAdvancesAllCount) {
  SimulatedEnv env(kStart);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&env] {
      for (int i = 0; i < 1000; ++i) env.AdvanceBy(absl::Milliseconds(1));
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(env.MonotonicNow(), absl::Seconds(4));
}

// ---- SimulatedEnv: randomness -------------------------------------------------------

TEST(SimulatedEnvTest, RandomnessIsDeterministicPerSeed) {
  SimulatedEnv a(kStart, 7), b(kStart, 7), c(kStart, 8);
  for (size_t n : {1, 3, 8, 13, 64}) {
    std::string from_a = a.RandomHex(n);
    EXPECT_EQ(from_a, b.RandomHex(n)) << n;
    EXPECT_NE(from_a, c.RandomHex(n)) << n;
  }
}

TEST(SimulatedEnvTest, SuccessiveDrawsDiffer) {
  SimulatedEnv env;
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(env.RandomHex(8));
  EXPECT_EQ(seen.size(), 100u);
}

TEST(SimulatedEnvTest, RandomBytesCoverEveryByteValue) {
  SimulatedEnv env;
  std::vector<unsigned char> buf(1 << 14);
  env.RandomBytes(buf.data(), buf.size());
  std::set<unsigned char> values(buf.begin(), buf.end());
  EXPECT_EQ(values.size(), 256u);
}

// ---- RandomHex ---------------------------------------------------------------------

TEST(EnvTest, RandomHexHasTwoLowerCaseDigitsPerByte) {
  SimulatedEnv sim;
  for (Env* env : {static_cast<Env*>(&sim), Env::Default()}) {
    for (size_t n : {0, 1, 16, 33}) {
      std::string hex = env->RandomHex(n);
      EXPECT_EQ(hex.size(), 2 * n);
      EXPECT_TRUE(IsLowerHex(hex)) << hex;
    }
  }
}

TEST(EnvTest, DefaultRandomHexDiffersBetweenCalls) {
  EXPECT_NE(Env::Default()->RandomHex(16), Env::Default()->RandomHex(16));
}

TEST(EnvTest, DefaultIsASingleton) { EXPECT_EQ(Env::Default(), Env::Default()); }

TEST(EnvTest, DefaultClocksAreReal) {
  Env* env = Env::Default();
  EXPECT_LT(absl::AbsDuration(env->Now() - absl::Now()), absl::Minutes(1));
  absl::Duration m0 = env->MonotonicNow();
  EXPECT_GE(env->MonotonicNow(), m0);
}

// ---- File system, for both Envs (SimulatedEnv uses the real file system) --------------

class EnvFileTest : public testing::TestWithParam<bool> {
 protected:
  EnvFileTest() {
    if (GetParam()) {
      sim_ = std::make_unique<SimulatedEnv>();
      env_ = sim_.get();
    } else {
      env_ = Env::Default();
    }
  }
  std::unique_ptr<SimulatedEnv> sim_;
  Env* env_ = nullptr;
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Envs, EnvFileTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Simulated" : "Posix";
                         });

TEST_P(EnvFileTest, WriteFileAtomicallySetsExactModeDespiteUmask) {
  struct Case {
    mode_t umask;
    uint32_t mode;
  };
  const Case cases[] = {{022, 0600}, {077, 0644}, {022, 0666}, {0, 0400}, {027, 0640}};
  for (const Case& c : cases) {
    ScopedUmask mask(c.umask);
    std::string path = dir_.Sub(StrCat("f", c.mode, "_", c.umask));
    ASSERT_TRUE(env_->WriteFileAtomically(path, "x", c.mode).ok());
    absl::StatusOr<uint32_t> mode = env_->FileMode(path);
    ASSERT_TRUE(mode.ok()) << mode.status();
    EXPECT_EQ(*mode, c.mode) << std::oct << "umask " << c.umask;
  }
}

TEST_P(EnvFileTest, WriteThenReadRoundTripsBinaryData) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>(i * 31));
  data[5] = '\0';
  std::string path = dir_.Sub("blob");
  ASSERT_TRUE(env_->WriteFileAtomically(path, data, 0600).ok());
  absl::StatusOr<std::string> back = env_->ReadFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, data);

  ASSERT_TRUE(env_->WriteFileAtomically(dir_.Sub("empty"), "", 0600).ok());
  back = env_->ReadFile(dir_.Sub("empty"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "");
}

// ReadFile sizes its buffer from fstat: a file whose stat size is 0 but which has bytes
// (procfs) and one that grows past its stat size are still read to their end.
TEST_P(EnvFileTest, ReadFileReadsPastTheStatSize) {
  absl::StatusOr<std::string> status = env_->ReadFile("/proc/self/status");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_NE(status->find("Pid:"), std::string::npos);

  // A FIFO has no size at all; what the writer sends (more than one read's worth) arrives.
  std::string fifo = dir_.Sub("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string sent(70000, 'q');
  sent.back() = 'z';
  std::thread writer([&] {
    int fd = ::open(fifo.c_str(), O_WRONLY);
    for (size_t at = 0; fd >= 0 && at < sent.size();) {
      ssize_t n = ::write(fd, sent.data() + at, std::min<size_t>(4096, sent.size() - at));
      if (n <= 0) break;
      at += static_cast<size_t>(n);
    }
    if (fd >= 0) ::close(fd);
  });
  absl::StatusOr<std::string> got = env_->ReadFile(fifo);
  writer.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, sent);
}

TEST_P(EnvFileTest, OverwriteReplacesContentAndModeAndLeavesNoTemporaryFiles) {
  std::string path = dir_.Sub("cfg");
  ASSERT_TRUE(env_->WriteFileAtomically(path, "first, longer content", 0644).ok());
  ASSERT_TRUE(env_->WriteFileAtomically(path, "second", 0600).ok());
  EXPECT_EQ(*env_->ReadFile(path), "second");
  EXPECT_EQ(*env_->FileMode(path), 0600u);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"cfg"});
}

// Regression: every writer in a process used the same temporary name (path.tmp.PID),
// so concurrent writers of one path truncated each other's file and all but one
// rename() failed with NotFound.
TEST_P(EnvFileTest, ConcurrentWritersOfOnePathAllSucceed) {
  const std::string path = dir_.Sub("shared");
  constexpr int kThreads = 4;
  constexpr int kWrites = 20;
  std::vector<std::string> payloads;
  for (int t = 0; t < kThreads; ++t) payloads.push_back(std::string(20000 + t, 'a' + t));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        if (!env_->WriteFileAtomically(path, payloads[t], 0600).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  absl::StatusOr<std::string> final_content = env_->ReadFile(path);
  ASSERT_TRUE(final_content.ok());
  EXPECT_NE(std::find(payloads.begin(), payloads.end(), *final_content), payloads.end())
      << "torn file of " << final_content->size() << " bytes";
}

TEST_P(EnvFileTest, WriteIntoMissingDirectoryIsNotFound) {
  absl::Status st = env_->WriteFileAtomically(dir_.Sub("no/such/file"), "x", 0600);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
}

TEST_P(EnvFileTest, ReadMissingFileIsNotFoundNamingThePath) {
  absl::StatusOr<std::string> got = env_->ReadFile(dir_.Sub("missing"));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(Msg(got.status()).find(dir_.Sub("missing")), std::string::npos) << got.status();
}

TEST_P(EnvFileTest, ReadUnreadableFileIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::string path = dir_.Sub("secret");
  ASSERT_TRUE(env_->WriteFileAtomically(path, "x", 0000).ok());
  EXPECT_EQ(env_->ReadFile(path).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_P(EnvFileTest, FileModeReportsPermissionBitsOrNotFound) {
  EXPECT_EQ(env_->FileMode(dir_.Sub("missing")).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(env_->WriteFileAtomically(dir_.Sub("f"), "x", 0640).ok());
  EXPECT_EQ(*env_->FileMode(dir_.Sub("f")), 0640u);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0750), 0);
  EXPECT_EQ(*env_->FileMode(dir_.path()), 0750u);
  ASSERT_EQ(::chmod(dir_.Sub("f").c_str(), 04755), 0);
  EXPECT_EQ(*env_->FileMode(dir_.Sub("f")), 04755u);
}

TEST_P(EnvFileTest, CreateDirsMakesParentsAndSetsExactModeOnTheLast) {
  ScopedUmask mask(0);
  std::string path = dir_.Sub("a/b/c");
  ASSERT_TRUE(env_->CreateDirs(path, 0700).ok());
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_EQ(*env_->FileMode(path), 0700u);
  // Existing directories are fine, and get the mode asked for.
  ASSERT_TRUE(env_->CreateDirs(path, 0750).ok());
  EXPECT_EQ(*env_->FileMode(path), 0750u);
}

TEST_P(EnvFileTest, CreateDirsOverAFileFails) {
  ASSERT_TRUE(env_->WriteFileAtomically(dir_.Sub("file"), "x", 0600).ok());
  EXPECT_FALSE(env_->CreateDirs(dir_.Sub("file/sub"), 0700).ok());
}

TEST_P(EnvFileTest, Exists) {
  EXPECT_TRUE(env_->Exists(dir_.path()));
  EXPECT_FALSE(env_->Exists(dir_.Sub("nope")));
  ASSERT_TRUE(env_->WriteFileAtomically(dir_.Sub("yes"), "", 0600).ok());
  EXPECT_TRUE(env_->Exists(dir_.Sub("yes")));
}

// ---- ErrnoStatus -------------------------------------------------------------------

TEST(ErrnoStatusTest, MapsErrnoToCodesAndNamesOperationAndPath) {
  absl::Status st = ErrnoStatus("open", "/x/y", ENOENT);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Msg(st), "open /x/y: No such file or directory");
  EXPECT_EQ(ErrnoStatus("open", "/x", EACCES).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus("chmod", "/x", EPERM).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus("mkdir", "/x", EEXIST).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoStatus("write", "/x", EIO).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace edgevault::base

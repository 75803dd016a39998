#include "src/storage/lmdb/lmdb_file_check.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "src/base/strings.h"

namespace edgevault::storage::lmdb_internal {
namespace {

using base::StrCat;

// LMDB 0.9's on-disk layout (mdb.c, 64-bit little-endian build, PAGEBASE 0).
// Page header (MDB_page): pgno u64 @0, pad u16 @8, flags u16 @10, then either
// lower u16 @12 + upper u16 @14 (branch/leaf) or an overflow page count u32 @12; then the
// node offsets (u16 each) from @16.
constexpr size_t kPageHeader = 16;
constexpr uint16_t kBranch = 0x01, kLeaf = 0x02, kOverflow = 0x04, kMeta = 0x08, kLeaf2 = 0x20,
                   kSubPage = 0x40;
constexpr uint16_t kTypeFlags = kBranch | kLeaf | kOverflow | kMeta | kLeaf2 | kSubPage;
// Meta (MDB_meta) at @16 of pages 0 and 1: magic u32 @0, version u32 @4, address @8,
// mapsize @16, two MDB_db of 48 bytes @24 (free) and @72 (main), last_pg @120, txnid @128.
// MDB_db: pad u32 @0 (the page size, in the free tree's), flags u16 @4, depth u16 @6,
// branch @8, leaf @16, overflow @24, entries @32, root @40.
constexpr uint32_t kMagic = 0xBEEFC0DE;
constexpr uint32_t kDataVersion = 1;
constexpr size_t kMetaBytes = 136;
constexpr size_t kFreeDb = 24, kMainDb = 72, kDbBytes = 48, kLastPage = 120, kTxnid = 128;
// Node (MDB_node): lo u16 @0, hi u16 @2, flags u16 @4, ksize u16 @6, key then data @8.
// Leaf: data size = lo | hi << 16. Branch: child page = lo | hi << 16 | flags << 32.
constexpr size_t kNodeHeader = 8;
constexpr uint16_t kBigData = 0x01, kSubData = 0x02, kDupData = 0x04;
constexpr int kMaxDepth = 32;  // CURSOR_STACK
constexpr size_t kRecordVersionBytes = 8;

uint16_t U16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t U32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);  // the file is in host order; this build is little-endian
  return v;
}
uint64_t U64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string Hex(uint16_t v) { return absl::StrFormat("0x%04x", v); }

absl::Status Damaged(std::string message) {
  return absl::DataLossError(StrCat("data.mdb is damaged: ", message));
}

// Reads exactly `n` bytes at `offset`; false (errno 0) when the file ends first.
bool ReadAt(int fd, void* out, size_t n, uint64_t offset, absl::Status* io_error) {
  auto* p = static_cast<unsigned char*>(out);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      *io_error = absl::InternalError(StrCat("reading data.mdb at offset ", offset + done, ": ",
                                             std::strerror(err)));
      return false;
    }
    if (r == 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

LmdbTree ParseTree(const unsigned char* db) {
  LmdbTree t;
  t.depth = U16(db + 6);
  t.branch_pages = U64(db + 8);
  t.leaf_pages = U64(db + 16);
  t.overflow_pages = U64(db + 24);
  t.entries = U64(db + 32);
  t.root = U64(db + 40);
  return t;
}

absl::Status CheckTreeRecord(const LmdbTree& t, std::string_view name, int meta, uint64_t file_pages) {
  if (t.root == kNoPage) {
    if (t.depth != 0 || t.entries != 0) {
      return Damaged(StrCat("meta page ", meta, ": the ", name, " tree is empty but records depth ",
                            t.depth, " and ", t.entries, " entries"));
    }
    return absl::OkStatus();
  }
  if (t.root < 2 || t.root >= file_pages) {
    return Damaged(StrCat("meta page ", meta, ": the ", name, " tree's root is page ", t.root,
                          "; the file has pages 2..", file_pages - 1));
  }
  if (t.depth < 1 || t.depth > kMaxDepth) {
    return Damaged(StrCat("meta page ", meta, ": the ", name, " tree's depth is ", t.depth));
  }
  return absl::OkStatus();
}

// The walk of CheckLmdbTrees.
class TreeWalk {
 public:
  TreeWalk(int fd, const LmdbMeta& meta, uint64_t file_pages)
      : fd_(fd), meta_(meta), psize_(meta.page_size), file_pages_(file_pages),
        seen_(static_cast<size_t>(std::min(meta.last_page + 1, file_pages)), false) {}

  absl::Status Tree(const LmdbTree& t, bool main) {
    main_ = main;
    name_ = main ? "main" : "free-page";
    counts_ = LmdbTree();
    previous_key_.clear();
    have_previous_ = false;
    if (t.root == kNoPage) return absl::OkStatus();  // CheckLmdbMetas checked depth/entries
    depth_ = t.depth;
    if (absl::Status st = Page(t.root, 1); !st.ok()) return st;
    if (counts_.branch_pages != t.branch_pages || counts_.leaf_pages != t.leaf_pages ||
        counts_.overflow_pages != t.overflow_pages || counts_.entries != t.entries) {
      return Damaged(StrCat("the ", name_, " tree has ", counts_.branch_pages, " branch, ",
                            counts_.leaf_pages, " leaf and ", counts_.overflow_pages,
                            " overflow pages and ", counts_.entries, " entries; its meta says ",
                            t.branch_pages, ", ", t.leaf_pages, ", ", t.overflow_pages, " and ",
                            t.entries));
    }
    return absl::OkStatus();
  }

 private:
  // Claims page `pgno` (a page of `what`): inside the file, after the metas, not seen yet.
  absl::Status Claim(uint64_t pgno, std::string_view what) {
    if (pgno < 2 || pgno > meta_.last_page || pgno >= file_pages_) {
      return Damaged(StrCat("the ", name_, " tree points to page ", pgno, " (", what,
                            "), outside pages 2..", std::min(meta_.last_page, file_pages_ - 1)));
    }
    if (seen_[pgno]) {
      return Damaged(StrCat("page ", pgno, " is reached twice (", what, " of the ", name_, " tree)"));
    }
    seen_[pgno] = true;
    return absl::OkStatus();
  }

  absl::Status Read(uint64_t pgno, std::vector<unsigned char>* page) {
    page->resize(psize_);
    absl::Status io;
    if (!ReadAt(fd_, page->data(), psize_, pgno * psize_, &io)) {
      if (!io.ok()) return io;
      return Damaged(StrCat("page ", pgno, " lies past the end of the file"));
    }
    if (U64(page->data()) != pgno) {
      return Damaged(StrCat("page ", pgno, " of the ", name_, " tree is stamped as page ",
                            U64(page->data())));
    }
    return absl::OkStatus();
  }

  absl::Status Page(uint64_t pgno, int level) {
    if (absl::Status st = Claim(pgno, level == 1 ? "root" : "child"); !st.ok()) return st;
    std::vector<unsigned char> page;
    if (absl::Status st = Read(pgno, &page); !st.ok()) return st;
    const unsigned char* p = page.data();
    const uint16_t type = U16(p + 10) & kTypeFlags;
    const bool leaf = level == depth_;
    if (type != (leaf ? kLeaf : kBranch)) {
      return Damaged(StrCat("page ", pgno, " of the ", name_, " tree at level ", level, " of ",
                            depth_, " has type flags ", Hex(type), "; expected a ", leaf ? "leaf" : "branch",
                            " page"));
    }
    const uint16_t lower = U16(p + 12), upper = U16(p + 14);
    if (lower < kPageHeader || lower > upper || upper > psize_ || (lower - kPageHeader) % 2 != 0) {
      return Damaged(StrCat("page ", pgno, " has free-space bounds ", lower, "..", upper,
                            " in a page of ", psize_, " bytes"));
    }
    const size_t n = (lower - kPageHeader) / 2;
    if (n < (leaf ? 1u : (main_ ? 2u : 1u))) {
      return Damaged(StrCat("page ", pgno, " holds ", n, " nodes"));
    }
    ++(leaf ? counts_.leaf_pages : counts_.branch_pages);
    for (size_t i = 0; i < n; ++i) {
      const size_t off = U16(p + kPageHeader + 2 * i);
      if (off < upper || off + kNodeHeader > psize_) {
        return Damaged(StrCat("node ", i, " of page ", pgno, " starts at offset ", off,
                              ", outside the page's node area ", upper, "..", psize_));
      }
      const unsigned char* node = p + off;
      const size_t ksize = U16(node + 6);
      if (off + kNodeHeader + ksize > psize_) {
        return Damaged(StrCat("the key of node ", i, " of page ", pgno, " runs past the page"));
      }
      if (!leaf) {
        uint64_t child = U16(node) | (uint64_t{U16(node + 2)} << 16) | (uint64_t{U16(node + 4)} << 32);
        if (absl::Status st = Page(child, level + 1); !st.ok()) return st;
        continue;
      }
      if (absl::Status st = LeafNode(pgno, i, node, off, ksize); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::Status LeafNode(uint64_t pgno, size_t i, const unsigned char* node, size_t off, size_t ksize) {
    const uint16_t flags = U16(node + 4);
    const uint64_t dsize = U16(node) | (uint64_t{U16(node + 2)} << 16);
    if (flags & (kSubData | kDupData)) {
      return Damaged(StrCat("node ", i, " of page ", pgno, " has node flags ", Hex(flags),
                            " (sub-database or duplicates, which the edge KV never writes)"));
    }
    if (!main_ && ksize != sizeof(uint64_t)) {
      return Damaged(StrCat("node ", i, " of free-page leaf ", pgno, " has a ", ksize, "-byte key"));
    }
    std::string_view key(reinterpret_cast<const char*>(node + kNodeHeader), ksize);
    unsigned char first_value_bytes[kRecordVersionBytes] = {};
    size_t first_available = 0;
    if (flags & kBigData) {
      if (off + kNodeHeader + ksize + sizeof(uint64_t) > psize_) {
        return Damaged(StrCat("the overflow reference of node ", i, " of page ", pgno, " runs past the page"));
      }
      const uint64_t first = U64(node + kNodeHeader + ksize);
      if (absl::Status st = Claim(first, "overflow"); !st.ok()) return st;
      std::vector<unsigned char> head;
      if (absl::Status st = Read(first, &head); !st.ok()) return st;
      const uint16_t type = U16(head.data() + 10) & kTypeFlags;
      const uint64_t pages = U32(head.data() + 12);
      if (type != kOverflow || pages < 1) {
        return Damaged(StrCat("overflow page ", first, " has type flags ", Hex(type),
                              " and a count of ", pages, " pages"));
      }
      for (uint64_t k = 1; k < pages; ++k) {
        if (absl::Status st = Claim(first + k, "overflow"); !st.ok()) return st;
      }
      if (dsize > pages * psize_ - kPageHeader) {
        return Damaged(StrCat("a ", dsize, "-byte value does not fit its ", pages, " overflow pages"));
      }
      counts_.overflow_pages += pages;
      first_available = std::min<size_t>(kRecordVersionBytes, psize_ - kPageHeader);
      std::memcpy(first_value_bytes, head.data() + kPageHeader, first_available);
    } else {
      if (off + kNodeHeader + ksize + dsize > psize_) {
        return Damaged(StrCat("the value of node ", i, " of page ", pgno, " runs past the page"));
      }
      first_available = static_cast<size_t>(std::min<uint64_t>(kRecordVersionBytes, dsize));
      std::memcpy(first_value_bytes, node + kNodeHeader + ksize, first_available);
    }
    ++counts_.entries;
    if (!main_) return absl::OkStatus();
    if (have_previous_ && !(previous_key_ < key)) {
      return Damaged(StrCat("keys are out of order at node ", i, " of page ", pgno));
    }
    previous_key_.assign(key);
    have_previous_ = true;
    if (dsize < kRecordVersionBytes || first_available < kRecordVersionBytes ||
        (first_value_bytes[0] & 0x80) != 0) {
      return Damaged(StrCat("the record at node ", i, " of page ", pgno,
                            " is not <8-byte version><value>"));
    }
    return absl::OkStatus();
  }

  const int fd_;
  const LmdbMeta& meta_;
  const uint32_t psize_;
  const uint64_t file_pages_;
  std::vector<bool> seen_;
  bool main_ = false;
  std::string_view name_;
  int depth_ = 0;
  LmdbTree counts_;
  std::string previous_key_;
  bool have_previous_ = false;
};

absl::StatusOr<uint64_t> FileSize(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    return absl::InternalError(StrCat("fstat data.mdb: ", std::strerror(err)));
  }
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

absl::StatusOr<std::array<LmdbMeta, 2>> ReadLmdbMetas(int fd) {
  absl::StatusOr<uint64_t> size = FileSize(fd);
  if (!size.ok()) return size.status();
  if (*size == 0) return Damaged("the file is empty (truncated, or never written whole)");
  std::array<LmdbMeta, 2> metas;
  uint32_t psize = 0;
  for (int m = 0; m < 2; ++m) {
    const uint64_t offset = uint64_t{psize} * m;
    unsigned char buf[kPageHeader + kMetaBytes];
    absl::Status io;
    if (!ReadAt(fd, buf, sizeof buf, offset, &io)) {
      if (!io.ok()) return io;
      return Damaged(StrCat("the file ends (", *size, " bytes) before meta page ", m));
    }
    const unsigned char* meta = buf + kPageHeader;
    if ((U16(buf + 10) & kMeta) == 0) {
      return Damaged(StrCat("page ", m, " (offset ", offset, ") is not a meta page"));
    }
    if (U32(meta) != kMagic) return Damaged(StrCat("meta page ", m, " lacks LMDB's magic number"));
    if (U32(meta + 4) != kDataVersion) {
      return Damaged(StrCat("meta page ", m, " has data version ", U32(meta + 4), "; expected 1"));
    }
    const uint32_t page_size = U32(meta + kFreeDb);
    if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0 ||
        (m == 1 && page_size != psize)) {
      return Damaged(StrCat("meta page ", m, " has page size ", page_size));
    }
    psize = page_size;
    metas[m].page_size = page_size;
    metas[m].free_tree = ParseTree(meta + kFreeDb);
    metas[m].main_tree = ParseTree(meta + kMainDb);
    metas[m].last_page = U64(meta + kLastPage);
    metas[m].txnid = U64(meta + kTxnid);
  }
  static_assert(kMainDb + kDbBytes == kLastPage);
  const uint64_t file_pages = *size / psize;
  if (file_pages < 2) {
    return Damaged(StrCat("the file (", *size, " bytes) is shorter than its two meta pages"));
  }
  for (int m = 0; m < 2; ++m) {
    if (metas[m].last_page < 1) {
      return Damaged(StrCat("meta page ", m, " has last page ", metas[m].last_page));
    }
    if (absl::Status st = CheckTreeRecord(metas[m].free_tree, "free-page", m, file_pages); !st.ok()) {
      return st;
    }
    if (absl::Status st = CheckTreeRecord(metas[m].main_tree, "main", m, file_pages); !st.ok()) {
      return st;
    }
  }
  return metas;
}

absl::StatusOr<LmdbMeta> CheckLmdbMetas(int fd) {
  absl::StatusOr<std::array<LmdbMeta, 2>> metas = ReadLmdbMetas(fd);
  if (!metas.ok()) return metas.status();
  // LMDB's mdb_env_pick_meta: the higher txnid (meta 0 on a tie).
  return (*metas)[0].txnid < (*metas)[1].txnid ? (*metas)[1] : (*metas)[0];
}

absl::Status CheckLmdbTrees(int fd, const LmdbMeta& meta) {
  absl::StatusOr<uint64_t> size = FileSize(fd);
  if (!size.ok()) return size.status();
  const uint64_t file_pages = *size / meta.page_size;
  if (meta.page_size == 0 || file_pages < 2) {
    return Damaged(StrCat("the file (", *size, " bytes) is shorter than its two meta pages"));
  }
  TreeWalk walk(fd, meta, file_pages);
  if (absl::Status st = walk.Tree(meta.free_tree, /*main=*/false); !st.ok()) return st;
  return walk.Tree(meta.main_tree, /*main=*/true);
}

}  // namespace edgevault::storage::lmdb_internal

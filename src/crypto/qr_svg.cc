#include "src/crypto/qr_svg.h"

#include <qrencode.h>

#include <cerrno>
#include <memory>

#include "src/base/strings.h"

namespace edgevault::crypto {
namespace {

constexpr size_t kMaxQrBytes = 2331;  // version 40, level M, 8-bit mode
constexpr int kMaxModulePx = 64;

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

}  // namespace

absl::StatusOr<std::string> QrCodeSvg(std::string_view text, int module_px) {
  if (text.empty()) return absl::InvalidArgumentError("QR code text is empty");
  if (text.size() > kMaxQrBytes) {
    return absl::InvalidArgumentError(base::StrCat("QR code text is ", text.size(),
                                                   " bytes; at most ", kMaxQrBytes, " fit"));
  }
  if (module_px < 1 || module_px > kMaxModulePx) {
    return absl::InvalidArgumentError(
        base::StrCat("module_px must be between 1 and ", kMaxModulePx));
  }
  // QRcode_encodeData is QRcode_encodeString8bit with an explicit length, so bytes after a
  // NUL are encoded rather than silently dropped.
  errno = 0;
  std::unique_ptr<QRcode, QrFree> code(
      QRcode_encodeData(static_cast<int>(text.size()),
                        reinterpret_cast<const unsigned char*>(text.data()), 0, QR_ECLEVEL_M));
  if (code == nullptr) {
    const int err = errno;
    if (err == ERANGE || err == EINVAL) {
      return absl::InvalidArgumentError("QR code text does not fit in a QR symbol");
    }
    if (err == ENOMEM) return absl::ResourceExhaustedError("libqrencode ran out of memory");
    return absl::InternalError(base::StrCat("libqrencode failed (errno ", err, ")"));
  }

  const int width = code->width;
  const int size = width + 2 * kQrQuietZoneModules;
  const int pixels = size * module_px;
  std::string svg = base::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", pixels, "\" height=\"", pixels,
      "\" viewBox=\"0 0 ", size, " ", size, "\" shape-rendering=\"crispEdges\">",
      "<rect width=\"", size, "\" height=\"", size, "\" fill=\"#fff\"/><path fill=\"#000\" d=\"");
  const unsigned char* data = code->data;
  for (int y = 0; y < width; ++y) {
    int x = 0;
    while (x < width) {
      if ((data[y * width + x] & 1) == 0) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < width && (data[y * width + x + run] & 1) != 0) ++run;
      base::StrAppend(&svg, "M", x + kQrQuietZoneModules, " ", y + kQrQuietZoneModules, "h", run,
                      "v1h-", run, "z");
      x += run;
    }
  }
  svg.append("\"/></svg>");
  return svg;
}

}  // namespace edgevault::crypto

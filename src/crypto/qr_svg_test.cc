#include "src/crypto/qr_svg.h"

#include <gtest/gtest.h>
#include <qrencode.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

namespace edgevault::crypto {
namespace {

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

// Rebuilds the module matrix (quiet zone included) from the path's "Mx yhNv1h-Nz" runs.
std::vector<std::vector<bool>> ParseModules(const std::string& svg, int* size) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(svg, m, std::regex(R"re(viewBox="0 0 (\d+) (\d+)")re")));
  *size = std::stoi(m[1]);
  EXPECT_EQ(m[1], m[2]);
  std::vector<std::vector<bool>> grid(*size, std::vector<bool>(*size, false));
  std::regex run(R"(M(\d+) (\d+)h(\d+)v1h-(\d+)z)");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), run); it != std::sregex_iterator();
       ++it) {
    const int x = std::stoi((*it)[1]), y = std::stoi((*it)[2]), n = std::stoi((*it)[3]);
    EXPECT_EQ((*it)[3], (*it)[4]);
    for (int i = 0; i < n; ++i) {
      EXPECT_FALSE(grid[y][x + i]) << "module drawn twice";
      grid[y][x + i] = true;
    }
  }
  return grid;
}

TEST(QrSvgTest, LooksLikeAnSvgDocument) {
  absl::StatusOr<std::string> svg = QrCodeSvg("otpauth://totp/EdgeVault:a%40b.c?secret=ABC");
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(svg->rfind("<svg ", 0), 0u);
  EXPECT_TRUE(svg->ends_with("</svg>"));
  EXPECT_NE(svg->find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_NE(svg->find("shape-rendering=\"crispEdges\""), std::string::npos);
  EXPECT_NE(svg->find("fill=\"#fff\""), std::string::npos);
  size_t paths = 0;
  for (size_t at = svg->find("<path"); at != std::string::npos; at = svg->find("<path", at + 1)) {
    ++paths;
  }
  EXPECT_EQ(paths, 1u);
}

TEST(QrSvgTest, ModulesMatchLibqrencodeWithQuietZone) {
  const std::string text = "otpauth://totp/EdgeVault:alice%40example.com?secret="
                           "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=EdgeVault";
  std::unique_ptr<QRcode, QrFree> code(QRcode_encodeString8bit(text.c_str(), 0, QR_ECLEVEL_M));
  ASSERT_NE(code, nullptr);
  absl::StatusOr<std::string> svg = QrCodeSvg(text, 5);
  ASSERT_TRUE(svg.ok()) << svg.status();

  int size = 0;
  std::vector<std::vector<bool>> grid = ParseModules(*svg, &size);
  ASSERT_EQ(size, code->width + 8);
  const std::string px = std::to_string(size * 5);
  EXPECT_NE(svg->find("width=\"" + px + "\" height=\"" + px + "\""), std::string::npos);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const int qx = x - 4, qy = y - 4;
      const bool inside = qx >= 0 && qy >= 0 && qx < code->width && qy < code->width;
      const bool dark = inside && (code->data[qy * code->width + qx] & 1) != 0;
      ASSERT_EQ(grid[y][x], dark) << "module " << x << "," << y;
    }
  }
}

TEST(QrSvgTest, DifferentTextGivesDifferentSvg) {
  absl::StatusOr<std::string> a = QrCodeSvg("hello");
  absl::StatusOr<std::string> b = QrCodeSvg("hellp");
  absl::StatusOr<std::string> a2 = QrCodeSvg("hello");
  ASSERT_TRUE(a.ok() && b.ok() && a2.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(*a, *a2);
}

TEST(QrSvgTest, RejectsEmptyAndOversizedText) {
  EXPECT_EQ(QrCodeSvg("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QrCodeSvg(std::string(2332, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QrCodeSvg(std::string(5000, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(QrCodeSvg(std::string(2331, 'a')).ok());  // the version-40-M capacity fits
  EXPECT_EQ(QrCodeSvg("x", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevault::crypto

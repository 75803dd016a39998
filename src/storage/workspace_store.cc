#include "src/storage/workspace_store.h"

#include "src/base/strings.h"

namespace edgevault::storage {

std::string_view ItemKindName(ItemKind kind) {
  switch (kind) {
    case ItemKind::kEnvironment:
      return "environment";
    case ItemKind::kConfig:
      return "config";
    case ItemKind::kFlag:
      return "flag";
    case ItemKind::kSegment:
      return "segment";
    case ItemKind::kSecret:
      return "secret";
  }
  return "unknown";
}

absl::StatusOr<ItemKind> ParseItemKind(std::string_view name) {
  for (ItemKind kind : {ItemKind::kEnvironment, ItemKind::kConfig, ItemKind::kFlag,
                        ItemKind::kSegment, ItemKind::kSecret}) {
    if (name == ItemKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      base::StrCat("unknown item kind \"", name,
                   "\"; expected one of environment, config, flag, segment, secret"));
}

}  // namespace edgevault::storage

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The module map's rule (README "Layout"): a module includes only the
# modules below it. Prints every include that breaks it and fails; run by
# ctest (module_layers). Usage: scripts/check-layers.sh [project dir]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

# The modules, lowest first: each may include those before it, except the
# pairs below (siblings that stay apart).
order=(base netlink src/json src/loop src/probe src/state src/policy src/config src/reconcile src/rebuild src/engine
       src/metrics src/control src/http)
apart=("src/config src/policy" "src/reconcile src/policy" "src/reconcile src/config" "src/rebuild src/policy"
       "src/rebuild src/reconcile" "src/metrics src/config" "src/metrics src/policy")
declare -A may
for ((i = 0; i < ${#order[@]}; i++)); do
  for ((j = 0; j < i; j++)); do
    ok=1
    for pair in "${apart[@]}"; do [[ $pair == "${order[i]} ${order[j]}" ]] && ok=0; done
    ((ok)) && may[${order[i]}]+="${order[j]} "
  done
done

bad=0
for dir in "${order[@]}"; do
  [[ -d $dir ]] || { echo "check-layers: no module $dir" >&2; bad=1; continue; }
  for f in "$dir"/*.cpp "$dir"/*.hpp; do
    [[ -e $f ]] || continue
    while IFS= read -r line; do
      inc=${line#*\"}; inc=${inc%%\"*}
      case $inc in
        base/*) mod=base ;;
        netlink/*) mod=netlink ;;
        src/*/*) mod=src/$(cut -d/ -f2 <<<"$inc") ;;
        *) continue ;;
      esac
      [[ $mod == "$dir" ]] && continue
      if [[ " ${may[$dir]:-} " != *" $mod "* ]]; then
        echo "$f: includes $inc: $dir may include only: ${may[$dir]:-nothing}"
        bad=1
      fi
    done < <(grep -E '^#include "' "$f" || true)
  done
done
for dir in src/*/; do
  dir=${dir%/}
  [[ " ${order[*]} " == *" $dir "* ]] || { echo "check-layers: $dir is not on the module map" >&2; bad=1; }
done
exit $bad

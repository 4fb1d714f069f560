#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian package, step by step, as ctest runs it (packaging/CMakeLists.txt
# registers one test per step, ordered by fixtures):
#
#   build    cpack -G DEB from the build tree
#   inspect  control fields, dependencies, file list, ownership, stripped
#            binaries, changelog version, man pages, the unit's exposure
#   lintian  no errors and no warnings (those explained are overridden),
#            and no hardening tag at any level
#   hardening every program in the package has Debian's hardening
#            (hardening-check: PIE, stack protector, _FORTIFY_SOURCE,
#            RELRO, immediate binding, stack clash protection, CET)
#   install  dpkg -i; files, user, state folder, unit verified, nothing
#            enabled or started, the route protocol name, --check-config of
#            the shipped configuration and of every example
#   upgrade  a reinstall, then an upgrade to a newer version while the
#            installed fipd forwards traffic in a namespace: no packet lost
#   purge    dpkg --purge, when this test installed the package
#   syscalls every system call fipd makes in the unprivileged failover test
#            (tests/packaging/unprivileged_test.cpp), traced, is one the
#            unit's SystemCallFilter= allows
#
# Safety: dpkg runs inside `unshare --net`, so no maintainer script can touch
# the machine's network; the service is never started (postinst does not, and
# systemd is checked to have no link for it). Exit 77 means skipped.
set -euo pipefail

step=${1:?usage: package_test.sh build|inspect|lintian|hardening|install|upgrade|purge|syscalls}
B=${FIPD_BUILD_DIR:?}
S=${FIPD_SOURCE_DIR:?}
V=${FIPD_VERSION:?}
arch=$(dpkg --print-architecture)
deb=$B/packages/fipd_${V}_${arch}.deb
work=$B/package-test
mkdir -p "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }
# The steps that install run only as root, and never over a fipd that
# systemd runs on this machine (FIPD_TEST_NO_INSTALL=1 skips them too).
need_root() {
  [ "$(id -u)" -eq 0 ] || { echo "skipped: dpkg -i needs root"; exit 77; }
  [ -z "${FIPD_TEST_NO_INSTALL:-}" ] || { echo "skipped: FIPD_TEST_NO_INSTALL is set"; exit 77; }
  if [ -d /run/systemd/system ] && systemctl is-active --quiet fipd.service; then
    echo "skipped: fipd.service runs on this machine; not installing over it"
    exit 77
  fi
}
dpkg_quiet() { DEBIAN_FRONTEND=noninteractive unshare --net dpkg "$@" </dev/null; }
contains() { grep -qxF -- "$2" <<<"$1" || fail "$3: no '$2'"; }

# The highest exposure systemd-analyze may give the unit; see the unit file
# for what is left and why (network namespace, capabilities, sockets).
max_exposure=2.0

check_exposure() {
  local out score
  out=$(systemd-analyze security --offline=yes "$1" 2>&1) || true
  score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$out")
  [ -n "$score" ] || fail "systemd-analyze security: $out"
  echo "exposure of fipd.service: $score (at most $max_exposure)"
  awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }' || { echo "$out"; fail "exposure $score"; }
}

case "$step" in
build)
  rm -f "$B"/packages/fipd_*.deb
  (cd "$B" && cpack -G DEB --config "$B/CPackConfig.cmake") >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log"; fail "cpack"; }
  [ -f "$deb" ] || { cat "$work/cpack.log"; fail "no $deb"; }
  ls -l "$deb"
  ;;

inspect)
  info=$(dpkg-deb -I "$deb")
  echo "$info"
  field() { dpkg-deb -f "$deb" "$1"; }
  [ "$(field Package)" = fipd ] || fail "Package"
  [ "$(field Version)" = "$V" ] || fail "Version $(field Version), expected $V"
  depends=$(field Depends)
  for dep in libc6 libsystemd0 libnftnl11 libmnl0 libnl-route-3-200 libboost-program-options systemd procps; do
    grep -q "$dep" <<<"$depends" || fail "Depends lacks $dep: $depends"
  done
  conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
  contains "$conffiles" /etc/fipd/fipd.toml conffiles
  contains "$conffiles" /etc/iproute2/rt_protos.d/fipd.conf conffiles

  listing=$(dpkg-deb -c "$deb")
  paths=$(awk '{print $6}' <<<"$listing" | sed 's|^\./|/|')
  for p in /usr/sbin/fipd /lib/systemd/system/fipd.service /etc/fipd/fipd.toml \
           /etc/iproute2/rt_protos.d/fipd.conf /usr/lib/sysusers.d/fipd.conf /usr/lib/tmpfiles.d/fipd.conf \
           /usr/share/man/man8/fipd.8.gz /usr/share/man/man5/fipd.toml.5.gz /usr/share/doc/fipd/copyright \
           /usr/share/doc/fipd/changelog.gz /usr/share/doc/fipd/examples/fipd.toml; do
    contains "$paths" "$p" "the package"
  done
  [ -x "$B/src/fipctl" ] && contains "$paths" /usr/sbin/fipctl "the package"
  if [ -f "$S/packaging/man/fipctl.8" ] && [ -x "$B/src/fipctl" ]; then
    contains "$paths" /usr/share/man/man8/fipctl.8.gz "the package"
  fi
  if [ -f "$S/packaging/fipctl.bash-completion" ] && [ -x "$B/src/fipctl" ]; then
    contains "$paths" /usr/share/bash-completion/completions/fipctl "the package"
  fi
  ! awk '{print $2}' <<<"$listing" | grep -qv '^root/root$' || fail "files not owned by root: $listing"

  x=$work/extract
  rm -rf "$x" && dpkg-deb -x "$deb" "$x"
  for bin in "$x"/usr/sbin/* "$x"/usr/bin/*; do
    [ -f "$bin" ] || continue
    ! readelf -S "$bin" | grep -q '\.debug_info' || fail "$bin is not stripped"
  done
  [ "$(dpkg-parsechangelog -l "$S/packaging/debian/changelog" -S Version)" = "$V" ] ||
    fail "packaging/debian/changelog's newest entry is not version $V (add one for this version)"
  for page in "$x"/usr/share/man/man*/*.gz; do
    warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
    [ -z "$warnings" ] || fail "$page: $warnings"
  done
  check_exposure "$x/lib/systemd/system/fipd.service"
  # The licence, machine-readable (DEP-5), for every file.
  copyright=$x/usr/share/doc/fipd/copyright
  head -n1 "$copyright" | grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ||
    fail "copyright is not in the machine-readable format"
  [ "$(sed -n 's/^License: //p' "$copyright" | sort -u)" = GPL-2.0-or-later ] ||
    fail "copyright names a licence other than GPL-2.0-or-later: $(grep '^License:' "$copyright")"
  echo "inspect: ok"
  ;;

lintian)
  command -v lintian >/dev/null || { echo "skipped: lintian is not installed (scripts/install-deps.sh)"; exit 77; }
  # Errors and warnings fail; every tag is shown, info included, for the
  # record. An expected warning is overridden in the package, with why.
  # lintian refuses to run as root without --allow-root.
  out=$(lintian --allow-root --fail-on error,warning --display-info "$deb" 2>&1) && rc=0 || rc=$?
  echo "$out"
  overrides=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/lintian/overrides/fipd 2>/dev/null || true)
  [ -z "$overrides" ] || printf 'overridden:\n%s\n' "$overrides"
  [ $rc -eq 0 ] || fail "lintian (exit $rc)"
  # Hardening tags are info or warning; none is acceptable, nor overridden.
  ! grep -E '^[EWIPXO]: fipd[^:]*: hardening-' <<<"$out" || fail "lintian reports missing hardening"
  ! grep -q 'hardening-' <<<"$overrides" || fail "a hardening tag is overridden"
  echo "lintian: ok"
  ;;

hardening)
  command -v hardening-check >/dev/null ||
    { echo "skipped: hardening-check is not installed (devscripts, scripts/install-deps.sh)"; exit 77; }
  x=$work/hardening
  rm -rf "$x" && dpkg-deb -x "$deb" "$x"
  checked=0
  for bin in "$x"/usr/sbin/* "$x"/usr/bin/*; do
    [ -f "$bin" ] || continue
    # Every line must say yes; "unknown" only where the check cannot tell
    # (stack clash probes exist only in functions with large frames).
    # Control flow integrity is checked apart: hardening-check wants the
    # ELF's IBT/SHSTK property, which the linker drops because Debian 12's
    # own startup files (crt1.o, crti.o, crtn.o) lack it; every system
    # binary fails it there. -fcf-protection shows as endbr64 at function
    # entries instead, which a build without it has only in those files.
    out=$(hardening-check --nocfprotection "$bin" 2>&1) && rc=0 || rc=$?
    echo "$out"
    [ $rc -eq 0 ] || fail "hardening-check ${bin#"$x"} (exit $rc)"
    bad=$(grep ': no' <<<"$out" | grep -v '(ignored)' || true)
    [ -z "$bad" ] || fail "hardening-check ${bin#"$x"}: $bad"
    if [ "$arch" = amd64 ]; then
      entries=$(objdump -d "$bin" | grep -c 'endbr64' || true)
      echo " Control flow protection (endbr64 at function entries): $entries"
      [ "$entries" -ge 100 ] || fail "${bin#"$x"} is not built with -fcf-protection"
    fi
    checked=$((checked + 1))
  done
  for prog in fipd fipctl; do
    [ -f "$x/usr/sbin/$prog" ] || fail "no /usr/sbin/$prog in the package"
  done
  echo "hardening: ok ($checked programs)"
  ;;

install)
  need_root
  if dpkg-query -W -f='${Status}' fipd 2>/dev/null | grep -q 'install ok installed'; then
    echo yes >"$work/preinstalled"
  else
    echo no >"$work/preinstalled"
  fi
  dpkg_quiet -i "$deb"
  [ "$(dpkg-query -W -f='${Version}' fipd)" = "$V" ] || fail "dpkg says version $(dpkg-query -W -f='${Version}' fipd)"
  /usr/sbin/fipd --version | grep -qx "fipd $V" || fail "fipd --version"
  for f in /lib/systemd/system/fipd.service /etc/fipd/fipd.toml /etc/iproute2/rt_protos.d/fipd.conf \
           /usr/share/man/man8/fipd.8.gz /usr/share/man/man5/fipd.toml.5.gz; do
    [ -f "$f" ] || fail "$f is missing"
  done

  # The user, the group, the state folder.
  IFS=: read -r _ _ uid gid _ home shell <<<"$(getent passwd fipd)" || fail "no user fipd"
  [ "$uid" -lt 1000 ] || fail "fipd is not a system user (uid $uid)"
  [ "$(getent group fipd | cut -d: -f3)" = "$gid" ] || fail "fipd's group is not fipd"
  [ "$home" = /var/lib/fipd ] && [ "$shell" = /usr/sbin/nologin ] || fail "fipd: home $home, shell $shell"
  [ "$(stat -c '%U:%G %a' /var/lib/fipd)" = "fipd:fipd 750" ] || fail "/var/lib/fipd: $(stat -c '%U:%G %a' /var/lib/fipd)"

  # The unit: verified, not enabled, not running (nothing may start it here).
  out=$(systemd-analyze verify /lib/systemd/system/fipd.service 2>&1) || { echo "$out"; fail "systemd-analyze verify"; }
  ! grep -i 'fipd' <<<"$out" || fail "systemd-analyze verify complains about fipd"
  check_exposure /lib/systemd/system/fipd.service
  [ ! -e /etc/systemd/system/multi-user.target.wants/fipd.service ] || fail "the package enabled fipd.service"
  for exe in /proc/[0-9]*/exe; do
    [ "$(readlink "$exe" 2>/dev/null)" != /usr/sbin/fipd ] || fail "an installed fipd runs: ${exe%/exe}"
  done

  # `ip route show proto fipd` names fipd's routes (in a throwaway namespace).
  # ip takes the name as a filter and prints it for protocol 247.
  routes=$(unshare --net sh -c 'ip link set lo up && ip route add 198.51.100.1/32 dev lo proto 247 &&
                                ip route show proto fipd && ip route show 198.51.100.1')
  grep -q '^198.51.100.1 dev lo scope link' <<<"$routes" && grep -q '^198.51.100.1 dev lo proto fipd ' <<<"$routes" ||
    fail "ip route show proto fipd: $routes"

  # The installed fipd accepts what the package ships, read as the unit's
  # ExecStartPre reads it: as user fipd.
  as_fipd() { setpriv --reuid=fipd --regid=fipd --clear-groups --inh-caps=-all "$@"; }
  # It defines no server yet, so fipd refuses it until the operator writes one.
  # (Its answer is read whole first: fipd exits 1 here, which pipefail
  # would count against grep.)
  check=$(as_fipd /usr/sbin/fipd --check-config --config /etc/fipd/fipd.toml 2>&1) || true
  grep -q 'defines no servers' <<<"$check" || fail "the default configuration: $check"
  for example in /usr/share/doc/fipd/examples/*.toml; do
    as_fipd /usr/sbin/fipd --check-config --config "$example" || fail "$example"
  done
  # The default's commented-out example, uncommented, and fipd.toml(5)'s example.
  sed -n '/^# A server and a floating IP/,$p' /etc/fipd/fipd.toml | sed '1d' | sed -n 's/^# \{0,1\}//p' >"$work/uncommented.toml"
  /usr/sbin/fipd --check-config --config "$work/uncommented.toml" | grep -q ': ok: 2 servers (1 spare), 1 floating IPs' ||
    fail "the default's example: $(/usr/sbin/fipd --check-config --config "$work/uncommented.toml" 2>&1)"
  zcat /usr/share/man/man5/fipd.toml.5.gz | sed -n '/^\.SH EXAMPLE/,/^\.fi/p' | sed '1,2d;$d;s/\\-/-/g' >"$work/man-example.toml"
  /usr/sbin/fipd --check-config --config "$work/man-example.toml" ||
    fail "fipd.toml(5)'s example"
  echo "install: ok"
  ;;

upgrade)
  need_root
  [ -x "$B/packaging/fipd_upgrade_check" ] || { echo "skipped: fipd_upgrade_check not built"; exit 77; }
  # Twice in a row: a reinstall of the same version keeps an edited conffile.
  echo "# edited by package_test.sh" >>/etc/fipd/fipd.toml
  dpkg_quiet -i "$deb"
  tail -n1 /etc/fipd/fipd.toml | grep -q 'edited by package_test' || fail "the reinstall replaced an edited conffile"
  # A newer version: the same files under a higher version number.
  next_dir=$work/next
  rm -rf "$next_dir" && dpkg-deb -R "$deb" "$next_dir"
  sed -i "s/^Version: .*/Version: ${V}+upgradetest1/" "$next_dir/DEBIAN/control"
  dpkg-deb --root-owner-group -b "$next_dir" "$work/fipd_next.deb" >/dev/null
  FIPD_NEXT_DEB=$work/fipd_next.deb "$B/packaging/fipd_upgrade_check"
  [ "$(dpkg-query -W -f='${Version}' fipd)" = "${V}+upgradetest1" ] || fail "the upgrade did not install"
  tail -n1 /etc/fipd/fipd.toml | grep -q 'edited by package_test' || fail "the upgrade replaced an edited conffile"
  echo "upgrade: ok"
  ;;

purge)
  need_root
  if [ "$(cat "$work/preinstalled" 2>/dev/null)" != no ]; then
    echo "skipped: fipd was installed before the test; leaving it installed"
    exit 77
  fi
  dpkg_quiet --purge fipd
  ! dpkg-query -W -f='${Status}' fipd 2>/dev/null | grep -q 'install ok installed' || fail "still installed"
  for f in /usr/sbin/fipd /etc/fipd /var/lib/fipd /lib/systemd/system/fipd.service; do
    [ ! -e "$f" ] || fail "$f is left after purge"
  done
  echo "purge: ok (the system user fipd stays, as Debian keeps system users)"
  ;;

syscalls)
  command -v strace >/dev/null || { echo "skipped: strace is not installed"; exit 77; }
  bin=$B/tests/test_packaging_unprivileged
  [ -x "$bin" ] || { echo "skipped: $bin not built"; exit 77; }
  # The unit's filter, applied line by line as systemd does: the first line
  # is an allow list, '~' takes groups away, a later plain line adds back.
  expand() {
    systemd-analyze syscall-filter "$1" 2>/dev/null | sed -n '2,$p' | sed 's/^ *//' | grep -v '^#' | grep -v '^$' |
      while read -r name; do case "$name" in @*) expand "$name" ;; *) echo "$name" ;; esac; done
  }
  allowed=$work/allowed
  : >"$allowed"
  while read -r line; do
    value=${line#SystemCallFilter=}
    remove=false
    [ "${value:0:1}" = "~" ] && { remove=true; value=${value:1}; }
    set=$(for item in $value; do case "$item" in @*) expand "$item" ;; *) echo "$item" ;; esac; done | sort -u)
    if $remove; then comm -23 "$allowed" <(echo "$set") >"$allowed.new"; else sort -u "$allowed" <(echo "$set") >"$allowed.new"; fi
    mv "$allowed.new" "$allowed"
  done < <(grep '^SystemCallFilter=' "$S/packaging/systemd/fipd.service")
  [ -s "$allowed" ] || fail "no SystemCallFilter= in the unit"

  trace=$work/trace
  rm -rf "$trace" && mkdir -p "$trace"
  strace -ff -qq -o "$trace/t" "$bin" --gtest_filter='Modes/*' >"$work/syscalls-test.log" 2>&1 ||
    { cat "$work/syscalls-test.log"; fail "the unprivileged test failed under strace"; }
  # fipd's processes (from their execve on) and the threads they cloned.
  threads() {
    echo "$1"
    for child in $(grep -oE '^clone3?\(.*\) = [0-9]+$' "$1" | grep -oE '[0-9]+$'); do
      [ -f "$trace/t.$child" ] && threads "$trace/t.$child"
    done
  }
  used=$(for main in $(grep -l '^execve("[^"]*/fipd",' "$trace"/t.*); do
           sed -n '/^execve("[^"]*\/fipd",/,$p' "$main"
           threads "$main" | tail -n +2 | xargs -r cat
         done | grep -oE '^[a-z_0-9]+\(' | tr -d '(' | sort -u)
  [ -n "$used" ] || fail "no fipd process in the trace"
  echo "fipd's system calls: $(echo $used)"
  denied=$(comm -23 <(echo "$used") "$allowed")
  [ -z "$denied" ] || fail "the unit's SystemCallFilter= denies what fipd calls: $(echo $denied)"
  echo "syscalls: ok ($(echo "$used" | wc -l) distinct, all allowed)"
  ;;

*)
  echo "unknown step $step" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# dht/ purity lint, in the spirit of Envoy's check_format.
#
#   tests/lint/dht_purity.sh REPO_ROOT [BUILD_DIR]
#
# dht/ is a pure state machine: the driver (SIP adaptor, simulator, unit
# test) hands it every message, the current time and randomness through
# the ports in dht/ports.h. That is what makes the simulator deterministic
# and the unit tests exact, and it is easy to break by accident with one
# stray #include or clock read. This script fails (exit 1, printing
# file:line and the rule) if dht/ sources:
#   - include a header for I/O, sockets, threads, files, the clock, the
#     environment, randomness, Sofia-SIP, libevent or yaml-cpp, or a
#     header from a layer above dht/;
#   - mention a clock, sleep, getenv, rand or console output.
# With BUILD_DIR it also checks what BUILD_DIR/dht/libsippeer_dht.a needs
# from outside itself: only libstdc++, libc basics and libcrypto (SHA-1).
#
# Comments and string literals are ignored, so explaining a rule in a
# comment ("never call time() here") is fine.
set -euo pipefail

if (($# < 1 || $# > 2)); then
  echo "usage: $0 REPO_ROOT [BUILD_DIR]" >&2
  exit 2
fi
ROOT=$1
BUILD_DIR=${2:-}
DHT="$ROOT/dht"
[[ -d "$DHT" ]] || { echo "dht purity: no directory $DHT" >&2; exit 2; }

mapfile -d '' files < <(find "$DHT" -type f \
  \( -name '*.h' -o -name '*.hh' -o -name '*.hpp' -o -name '*.ipp' -o -name '*.inc' \
     -o -name '*.cpp' -o -name '*.cc' -o -name '*.cxx' -o -name '*.c' \) -print0 | sort -z)
if ((${#files[@]} == 0)); then
  echo "dht purity: no source files under $DHT" >&2
  exit 1
fi

# --- source rules: one perl pass over every file -------------------------
# perl is part of every Debian install (perl-base), and one process for
# all files keeps this well under 100 ms.
status=0
perl - "$ROOT" "${files[@]}" <<'PERL' || status=$?
use strict; use warnings;
my $root = shift @ARGV;

# Headers dht/ must not include. Matched against the name inside <> or "".
my @bad_include = (
  [qr{^sofia-sip/},  "Sofia-SIP belongs in adaptor/"],
  [qr{^event2?/|^event\.h$}, "libevent belongs in adaptor/"],
  [qr{^yaml-cpp/},   "config parsing belongs in adaptor/ (dht/ takes a Config struct)"],
  [qr{^sys/},        "system headers (sockets, time, files) are I/O"],
  [qr{^netinet/|^arpa/|^net/|^netdb\.h$|^ifaddrs\.h$|^poll\.h$|^fcntl\.h$}, "networking is the Transport port"],
  [qr{^unistd\.h$},  "POSIX I/O, sleep and environment are not for dht/"],
  [qr{^(pthread\.h|thread|mutex|shared_mutex|condition_variable|future|semaphore|latch|barrier|stop_token)$},
                     "dht/ is single-threaded: the driver serialises all calls"],
  [qr{^(fstream|iostream|cstdio|stdio\.h|filesystem)$}, "no files or console output in dht/"],
  [qr{^(random)$},   "randomness comes through the Random port (dht/ports.h)"],
  [qr{^(signal\.h|csignal)$}, "signals are the driver's business"],
);
# Angle-bracket-only: "time.h" in quotes is our own dht/time.h.
my @bad_system_include = (
  [qr{^(ctime|time\.h)$}, "wall-clock time: use the now passed in by the driver"],
);
# Quoted includes from layers above dht/.
my $bad_layer = qr{^(adaptor|interop|tests|bench|sim)/};

# Tokens, checked on code with comments and string literals removed.
my @bad_token = (
  [qr{\b(system_clock|steady_clock|high_resolution_clock|utc_clock|file_clock)\b},
     "reads a clock: use the now passed in by the driver"],
  [qr{(?:\bstd::|(?<![\w.>:]))time\s*\(\s*(?:nullptr|NULL|0|&)|\bstd::time\s*\(|(?<![\w:])::time\s*\(},
     "time(): use the now passed in by the driver"],
  [qr{\b(gettimeofday|clock_gettime|timespec_get)\b}, "reads a clock: use the now passed in by the driver"],
  [qr{\bstd::s?rand\b|(?<![\w.>:])(?:s?rand|drand48|lrand48|arc4random)\s*\(},
     "randomness comes through the Random port (dht/ports.h)"],
  [qr{\brandom_device\b}, "randomness comes through the Random port (dht/ports.h)"],
  [qr{\b(?:secure_)?getenv\b}, "no environment reads: configuration comes in the Config struct"],
  [qr{\b(sleep_for|sleep_until|usleep|nanosleep)\b}, "no sleeping: ask the driver for a tick"],
  [qr{\bstd::(cout|cerr|clog|printf|puts)\b|(?<![\w.>:])(?:printf|fprintf|puts)\s*\(},
     "no console output: report through the Observer port"],
);

my ($nfiles, $bad) = (0, 0);
for my $path (@ARGV) {
  open(my $fh, "<", $path) or die "$path: $!";
  $nfiles++;
  (my $rel = $path) =~ s{^\Q$root\E/?}{};
  my $in_block = 0;
  while (my $line = <$fh>) {
    chomp $line;
    # Strip comments and literals, keeping the #include operand first.
    my $code = $line;
    if ($in_block) {
      if ($code =~ s{^.*?\*/}{}) { $in_block = 0 } else { next }
    }
    $code =~ s{/\*.*?\*/}{ }g;
    if ($code =~ s{/\*.*$}{}) { $in_block = 1 }
    $code =~ s{//.*$}{};

    if ($code =~ m{^\s*#\s*include\s*([<"])([^>"]+)[>"]}) {
      my ($delim, $hdr) = ($1, $2);
      my $shown = $delim eq "<" ? "<$hdr>" : "\"$hdr\"";
      for my $r (@bad_include) {
        if ($hdr =~ $r->[0]) { print "$rel:$.: forbidden #include $shown: $r->[1]\n"; $bad++ }
      }
      if ($delim eq "<") {
        for my $r (@bad_system_include) {
          if ($hdr =~ $r->[0]) { print "$rel:$.: forbidden #include <$hdr>: $r->[1]\n"; $bad++ }
        }
      } elsif ($hdr =~ $bad_layer) {
        print "$rel:$.: forbidden #include \"$hdr\": dht/ must not depend on the layers above it\n"; $bad++;
      }
      next;
    }

    $code =~ s{"(?:[^"\\]|\\.)*"}{""}g;
    $code =~ s{'(?:[^'\\]|\\.)*'}{''}g;
    for my $r (@bad_token) {
      while ($code =~ /$r->[0]/g) { print "$rel:$.: forbidden \"$&\": $r->[1]\n"; $bad++ }
    }
  }
  close $fh;
}
exit($bad ? 1 : 0);
PERL
if ((status > 1)); then
  echo "dht purity: checker itself failed (exit $status)" >&2
  exit "$status"
fi

# --- link rule ---------------------------------------------------------
# Symbols the archive needs from outside itself (undefined in some member
# and defined in none) must not reach sockets, threads, clocks, the
# environment, Sofia-SIP, libevent or yaml-cpp. C symbols are matched by
# exact name or library prefix, C++ ones on their demangled form, so
# std::bind or a member named on_event_ does not trip it.
if [[ -n "$BUILD_DIR" ]]; then
  LIB="$BUILD_DIR/dht/libsippeer_dht.a"
  if [[ ! -f "$LIB" ]]; then
    echo "dht purity: $LIB not found (build first, or omit BUILD_DIR)" >&2
    exit 2
  fi
  # nm prints "ADDR TYPE NAME" for defined and "         U NAME" for
  # undefined symbols; -C demangles so the C++ rules read naturally.
  defined=$(nm -C --defined-only "$LIB" | sed -nE 's/^[0-9a-fA-F]+ [A-Za-z] //p' | sort -u)
  undefined=$(nm -C -u "$LIB" | sed -nE 's/^ +[Uw] //p' | sed 's/@.*//' | sort -u)
  external=$(comm -23 <(printf '%s\n' "$undefined") <(printf '%s\n' "$defined"))
  bad_c='^(socket|bind|connect|listen|accept4?|send|sendto|sendmsg|recv|recvfrom|recvmsg|select|poll|epoll_.*|getaddrinfo|pthread_create|pthread_join|pthread_detach|clock_gettime|gettimeofday|time|timespec_get|getenv|secure_getenv|sleep|usleep|nanosleep|rand|srand|random|fopen|printf|fprintf|puts|.*sofia.*|su_.*|nta_.*|nua_.*|sip_.*|tport_.*|event_.*|evutil_.*|evbuffer_.*|bufferevent_.*|evdns_.*|evconnlistener_.*)$'
  bad_cxx='YAML::|std::thread|std::jthread|_clock::now|std::random_device|std::basic_[io]?fstream|std::cout|std::cerr|std::clog|std::filesystem::|std::this_thread::'
  hits=$(printf '%s\n' "$external" | grep -E -e "$bad_c" -e "$bad_cxx" || true)
  if [[ -n "$hits" ]]; then
    while IFS= read -r sym; do
      echo "$LIB: forbidden external symbol: $sym"
    done <<<"$hits"
    status=1
  fi
fi

if ((status)); then
  echo "dht purity: FAILED (see above; dht/ must stay a pure state machine, see tests/lint/dht_purity.sh)"
  exit 1
fi
echo "dht purity: OK (${#files[@]} files)"

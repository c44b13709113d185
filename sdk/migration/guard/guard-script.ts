// ferry's guard, the perl program run on each host of a migration (see
// guard-channel.ts). It lives in a TypeScript string so that it ships inside
// the module wherever ferry is loaded from (a checkout, npm, JSR over https);
// test/unit/engine/guard.test.ts checks it with \`perl -c\` and runs it.
// Keep it free of backticks and dollar-brace: it is a String.raw template.
export const GUARD_SCRIPT = String.raw`# ferry's guard: one per host of a migration, started by ferry over its own
# SSH session. It relays QMP between ferry (stdin/stdout) and QEMU, so it is
# ferry's only QMP client of that VM, and it acts on QEMU's own state when
# ferry goes away: its session ends (ferry killed: sshd closes our stdin) or
# its heartbeat stops (ferry frozen, or its network gone).
#
# Needs only perl-base (Essential on Debian/Ubuntu, and in every RHEL base):
# no JSON module, so QMP is matched by regular expressions on QEMU's
# one-object-per-line output.
#
# Lines from ferry: QMP commands ('{...}'), relayed to QEMU, or controls:
#   #hb                 I am alive            #done   ferry finished: exit quietly
#   #quitting           (src) the VM runs on the destination and ferry quits this
#                       QEMU: once it is gone remove its files and the lock, ferry
#                       or not, then say '#cleaned' and exit (ferry lost first: quit it)
#   #was-running 0|1    resume the guest on rollback (src) or at commit (dst)
#   #gate MS            cancel a switchover ferry has not answered within MS
#   #source-kept        (dst) the source's guard rolled back: no stream can complete here
#   #gate-go W:B ...    (src) the gate next to QEMU: at the pause, with a wait of at
#                       most W ms, let it go if QEMU holds at most B bytes of RAM
#                       (ferry's table, smallest W first, then 'rate:R': the pause's
#                       send rate it plans with, bytes/s); '#gate-go off' disarms
#   #gate-behind BYTES RATE  (src) the destination's guard's last '#behind' (relayed)
#   #restore {...}      a QMP command that undoes one of ferry's settings (src)
#   #restore-retry {...} the same, retried for up to 5 s while QEMU says it is
#                       busy (a node a cancelled block job still holds)
#   #cleanup PATH       a file to remove when this side's QEMU is ended
#   #record {...}       the migration record to keep in the lock (src)
#   #uri URI            where the destination listens (to resume a paused post-copy)
#   #launch HEX         (dst started with launch-later=1) the launch script, hex: until
#                       it comes nothing runs here, and ferry gone first leaves nothing;
#                       '#cleanup' and '#created' lines may come before it
# Lines to ferry: QEMU's output, and '#' lines: '#guard PID', '#busy live|stale',
# '#novm', '#vm PID', '#argv HEX', '#gate-expired', '#resolved WHAT', '#cleaned', and
# at every pause before switchover '#gate-went BYTES MS FLIGHT RATE UNSENT SLEEP' (it let
# it go, written before the migrate-continue) or '#gate-left BYTES|- MS|- FLIGHT|- RATE|-
# UNSENT|- SLEEP|- WHY' (it is ferry's to answer): the RAM QEMU holds, the wait, the stream
# still in the sockets of a destination that lags and its pace, the send queue if it was
# read (see in_flight), and the vCPUs' throttle sleep still to come (see vcpu_sleep_ms).
# (dst) '#behind BYTES RATE': its QEMU lags BYTES behind the stream, reading RATE
# bytes/s ('#behind 0 0': it keeps up again).
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;
use POSIX ();
use Fcntl;

$SIG{PIPE} = 'IGNORE';
$SIG{HUP}  = 'IGNORE';

# cleanup=PATH: files to remove when this side's QEMU is ended; created=PATH:
# files the launch makes (disk images for a copy), removed likewise once it
# made them (a failed launch removes its own, never a file it found there).
my (%opt, @cleanup, @created);
for (@ARGV) {
  next unless /^([a-z-]+)=(.*)$/s;
  if ($1 eq 'cleanup') { push @cleanup, $2 } elsif ($1 eq 'created') { push @created, $2 } else { $opt{$1} = $2 }
}
my $role      = $opt{role} // 'src';
my $qmp_path  = $opt{qmp};
my $pidfile   = $opt{pidfile};
my $lock      = $opt{lock} // '';
my $hb_limit  = ($opt{'hb-ms'} // 3000) / 1000;
my $log_file  = $opt{log} // '';
my $label     = $opt{label} // 'vm';
my $tick      = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

sub now { return (POSIX::times())[0] / $tick }
# The gate's wait needs finer than clock ticks: Time::HiRes where perl has it (not
# perl-base). Without it, a tick's worth is added, so the wait is never understated.
my $hires = eval { require Time::HiRes; Time::HiRes::clock_gettime(Time::HiRes::CLOCK_MONOTONIC()); 1 };
my $tick_ms = $hires ? 0 : 1000 / $tick;
sub precise_ms { return $hires ? Time::HiRes::clock_gettime(Time::HiRes::CLOCK_MONOTONIC()) * 1000 : now() * 1000 }

my $out = '';            # to ferry, written without ever blocking
my $ferry_gone = 0;      # stdin closed
my $done = 0;
my $quitting = 0;        # src: ferry quits this QEMU, and we clean up after it
my $src_pid;             # src: the QEMU found at the start
my $was_running = 1;
my $gate_ms;
my $gate_at;
my @gate_go;                # [wait ms, bytes], smallest wait first: ferry's table for the gate here
my $gate_rate = 0;          # the pause's send rate that table plans with (bytes/s)
my $gate_seen;              # when the pause's event was read (precise ms), until the gate here answered
my $gate_went = 0;          # the gate here let the switchover go: a cancel now would hit QEMU's device state
my $source_kept = 0;        # dst: ferry saw the source roll back, so an incoming stream cannot complete
my @behind = (0, 0);        # src: the destination's lag and its pace, as its guard last said (via ferry)
my @said = (0, 0);          # dst: the lag and pace last said to ferry
my @looks;                  # dst: [precise ms, unread, consumed] of the last 50 ms
my $saw_stop = 0;
my $postcopy = 0;
my $migrate_sent = 0;       # ferry issued this migration's migrate: only then is query-migrate about it
my @vcpus;                  # src: its QEMU's vCPU thread ids (query-cpus-fast), to read their throttle sleep at the pause
my $uri = '';
my @restore;
my $last_seen = now();
my $qmp;
my $qbuf = '';
my $ibuf = '';
my %replies;
my $seen_status = 'none';   # the last MIGRATION event QEMU sent
my $pauses = 0;             # how often post-copy paused (its link broke)
my $next_id = 0;

my $flags = fcntl(STDOUT, F_GETFL, 0);
fcntl(STDOUT, F_SETFL, $flags | O_NONBLOCK);
binmode STDIN;
binmode STDOUT;

sub flush_out {
  while (length $out) {
    my $n = syswrite(STDOUT, $out);
    if (!defined $n) {
      # ferry does not read (frozen): keep a bounded backlog; its heartbeat decides.
      $out = substr($out, -1048576) if length $out > 4194304;
      return;
    }
    substr($out, 0, $n) = '';
  }
}
sub to_ferry { $out .= $_[0]; flush_out() }
sub ctl { to_ferry("#$_[0]\n") }

sub logline {
  my ($what) = @_;
  return unless $log_file;
  if (open(my $fh, '>>', $log_file)) {
    print $fh scalar(gmtime()) . " UTC $label $role: $what\n";
    close $fh;
  }
}

sub alive {
  my ($pid) = @_;
  return 0 unless $pid && $pid =~ /^\d+$/;
  open(my $fh, '<', "/proc/$pid/stat") or return 0;
  my $stat = <$fh>;
  close $fh;
  return 0 unless defined $stat;
  $stat =~ s/.*\) //s;
  return substr($stat, 0, 1) ne 'Z';
}
sub read_file {
  my ($path) = @_;
  open(my $fh, '<', $path) or return undef;
  local $/;
  my $text = <$fh>;
  close $fh;
  return $text;
}
sub write_file_atomic {
  my ($path, $text) = @_;
  open(my $fh, '>', "$path.tmp") or return;
  print $fh $text;
  close $fh;
  rename("$path.tmp", $path);
}
sub qemu_pid {
  my $p = read_file($pidfile) // '';
  $p =~ s/\s+//g;
  return alive($p) ? $p : undef;
}

# --- QMP -------------------------------------------------------------------

sub qmp_write { my ($line) = @_; my $off = 0; while ($off < length $line) { my $n = syswrite($qmp, $line, length($line) - $off, $off); return 0 unless defined $n; $off += $n } return 1 }

# Reads what QEMU has sent; relays everything that is not an answer to us.
sub pump_qmp {
  my ($timeout) = @_;
  my $sel = IO::Select->new($qmp);
  return 1 unless $sel->can_read($timeout);
  my $n = sysread($qmp, $qbuf, 65536, length $qbuf);
  return 0 unless $n;
  while ((my $i = index($qbuf, "\n")) >= 0) {
    my $line = substr($qbuf, 0, $i + 1, '');
    if ($line =~ /"id":\s*"ferry-guard-(\d+)"/) { $replies{$1} = $line; next }
    if ($line =~ /"id":\s*"ferry-guard-cpus"/) { @vcpus = $line =~ /"thread-id":\s*(\d+)/g; next }
    if ($line =~ /"event":\s*"MIGRATION"/ && $line =~ /"status":\s*"([a-z-]+)"/) {
      $pauses++ if $1 eq 'postcopy-paused' && $seen_status ne 'postcopy-paused';
      $seen_status = $1;
      $gate_at = now() if $seen_status eq 'pre-switchover' && defined $gate_ms;
      $gate_seen = precise_ms() if $seen_status eq 'pre-switchover' && $role eq 'src' && $migrate_sent && !$gate_went;
    }
    to_ferry($line) unless $ferry_gone;
  }
  return 1;
}

# One command of ours, waiting for its answer (up to $timeout s); undef if none came.
sub qmp_call {
  my ($command, $timeout) = @_;
  $timeout //= 10;
  my $id = ++$next_id;
  my $line = $command;
  $line =~ s/^\{/{"id":"ferry-guard-$id",/;
  return undef unless qmp_write("$line\n");
  my $until = now() + $timeout;
  while (!exists $replies{$id}) {
    return undef if now() > $until;
    return undef unless pump_qmp(0.05);
  }
  return delete $replies{$id};
}
# Answers ferry's command (its id kept) with an empty return, without QEMU.
sub answer_empty {
  my ($line) = @_;
  my ($id) = $line =~ /"id":\s*("(?:[^"\\]|\\.)*"|\d+)/;
  to_ferry(defined $id ? qq({"return": {}, "id": $id}\n) : qq({"return": {}}\n));
}
sub qmp_send { qmp_send_as(++$next_id, $_[0]) }
sub qmp_send_as {
  my ($id, $command) = @_;
  (my $line = $command) =~ s/^\{/{"id":"ferry-guard-$id",/;
  qmp_write("$line\n");
}
sub migration_status {
  my $reply = qmp_call('{"execute":"query-migrate"}', $_[0]) // return 'unreachable';
  return $reply =~ /"status":\s*"([a-z-]+)"/ ? $1 : 'none';
}
sub run_state {
  my $reply = qmp_call('{"execute":"query-status"}', $_[0]) // return 'unreachable';
  return $reply =~ /"status":\s*"([a-z-]+)"/ ? $1 : 'unknown';
}
sub wait_status {
  my ($done_re, $timeout) = @_;
  my $until = now() + $timeout;
  my $status = migration_status();
  while ($status !~ $done_re && now() < $until) {
    select(undef, undef, undef, 0.05);
    $status = migration_status();
  }
  return $status;
}

sub connect_qmp {
  for (1 .. 100) {
    $qmp = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $qmp_path);
    last if $qmp;
    select(undef, undef, undef, 0.05);
  }
  return 0 unless $qmp;
  # The greeting goes to ferry; we negotiate for both of us (QEMU takes it once).
  my $until = now() + 10;
  while ($qbuf !~ /\n/) {
    return 0 if now() > $until;
    my $n = sysread($qmp, $qbuf, 65536, length $qbuf);
    return 0 unless $n;
  }
  my $i = index($qbuf, "\n");
  my $greeting = substr($qbuf, 0, $i + 1, '');
  my $oob = $greeting =~ /"capabilities":\s*\[[^\]]*"oob"/;
  return 0 unless defined qmp_call($oob ? '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}' : '{"execute":"qmp_capabilities"}');
  to_ferry($greeting);
  return 1;
}

# --- ending a QEMU ---------------------------------------------------------

sub end_qemu {
  my $pid = qemu_pid();
  # A stopped (SIGSTOP) QEMU answers nothing and handles no TERM: only KILL ends it.
  kill('KILL', $pid) if $pid && (read_file("/proc/$pid/stat") // '') =~ /\) T /;
  qmp_call('{"execute":"quit"}', 2) if $qmp && $pid && alive($pid);
  for my $signal (0, 'TERM', 'KILL') {
    kill($signal, $pid) if $signal && $pid && alive($pid);
    for (1 .. 50) { last unless $pid && alive($pid); select(undef, undef, undef, 0.1) }
  }
  unlink @cleanup;
}

# --- what to do when ferry is gone -----------------------------------------

sub resolve_source {
  # query-migrate keeps the last migration's status, and a VM that arrived by
  # migration reports that incoming one as completed: before ferry's migrate,
  # nothing was sent, whatever it says.
  my $status = $migrate_sent ? migration_status() : 'none';
  if ($status =~ /^(setup|active|pre-switchover|wait-unplug)$/) {
    # Before switchover the guest belongs here: stop sending it away.
    qmp_call('{"execute":"migrate_cancel"}');
    $status = wait_status(qr/^(cancelled|failed|completed|none)$/, 10);
  }
  $status = wait_status(qr/^(cancelled|failed|completed|none|postcopy-active|postcopy-paused)$/, 30) if $status =~ /^(device|cancelling)$/;
  if ($status =~ /^postcopy/) {
    # The destination owns the newest memory: never cancel. Post-copy ends by
    # itself; when the link broke (both sides paused), resume it as soon as the
    # destination's guard listens again and the link lets it.
    my $until = now() + 3600;
    my $tried = 0;
    while (now() < $until) {
      $status = migration_status(5);
      last if $status eq 'completed' || $status eq 'failed';
      if ($status eq 'postcopy-paused' && $uri && now() - $tried > 2) {
        qmp_call(qq({"execute":"migrate","arguments":{"uri":"$uri","resume":true}}), 5);
        $tried = now();
      }
      select(undef, undef, undef, 0.2);
    }
  }
  if ($status eq 'completed') {
    # The destination confirmed it has everything (return path): this copy is stale.
    end_qemu();
    rmdir_lock();
    return 'completed: the source QEMU was ended; the VM runs on the destination';
  }
  if ($status =~ /^postcopy/) {
    write_file_atomic("$lock/outcome", "postcopy-paused\n") if $lock;
    return "post-copy $status: both sides wait for ferry recover";
  }
  if ($status eq 'unreachable') {
    return 'QEMU did not answer: left as it is';
  }
  if ($status eq 'failed' && $postcopy) {
    write_file_atomic("$lock/outcome", "postcopy-failed\n") if $lock;
    return 'post-copy start failed: left paused for ferry recover';
  }
  my $state = run_state();
  if ($was_running && ($state eq 'postmigrate' || $state eq 'finish-migrate' || ($state eq 'paused' && $saw_stop))) {
    qmp_call('{"execute":"cont"}');
    $state = run_state();
  }
  for my $command (@restore) {
    my $retry = $command =~ s/^retry://;
    my $until = now() + 5;
    for (;;) {
      my $reply = qmp_call($command) // '';
      # Only "busy" is worth waiting out: a node that is not there will not come.
      last if !$retry || $reply !~ /"error"/ || $reply =~ /find|not found/i || now() > $until;
      select(undef, undef, undef, 0.1);
    }
  }
  rmdir_lock();
  return "rolled back ($status): the VM is $state on the source";
}

sub resolve_destination {
  my $status = migration_status(3);
  my $state = 'unreachable';
  # An incoming stream under way may be the source's last state, sent after its pause was let
  # go: a load that completes just after we looked is the only copy once the source's guard
  # ends the source (its 'completed' follows ours). So its own end is waited for: failed
  # (the source's guard cancelled, or the link broke) or completed. Bounded, for a source
  # host that is gone without a word, and skipped when ferry saw the source roll back
  # (#source-kept); before the stream (setup) nothing can complete.
  $status = wait_status(qr/^(?!active$)/, 30) if $status eq 'active' && !$source_kept;
  # A QEMU that does not answer (frozen) is judged by the last event it sent.
  if ($status eq 'unreachable') { $status = $seen_status } else { $state = run_state(3) }
  if ($status eq 'completed' || $status =~ /^postcopy/) {
    # The source handed the guest over: it runs here now. Completed, the answer is
    # waited for: QEMU drops a command it has not run yet when its client hangs up,
    # and we exit next. In post-copy it is sent without waiting (the main loop may be
    # blocked on a page that has not arrived) and we stay until post-copy ends.
    my $resume = $was_running && ($state eq 'paused' || $state eq 'unreachable');
    if ($status eq 'completed') {
      qmp_call('{"execute":"cont"}', 10) if $resume;
      return "committed ($status): the VM runs on the destination";
    }
    qmp_send('{"execute":"cont"}') if $resume;
    # Post-copy: listen again each time the link broke (once per pause: listening
    # anew would drop a source already reconnecting), out of band since the main
    # loop may be blocked on a missing page, until the source's guard sent the rest.
    $pauses = 1 if $status eq 'postcopy-paused' && $pauses == 0;
    my $listened = 0;
    my $until = now() + 3600;
    while (now() < $until && $seen_status ne 'completed' && $seen_status ne 'failed') {
      if ($uri && $pauses > $listened) {
        qmp_send(qq({"exec-oob":"migrate-recover","arguments":{"uri":"$uri"}}));
        $listened = $pauses;
      }
      last unless pump_qmp(0.2);
    }
    return "committed (post-copy, then $seen_status): the VM runs on the destination";
  }
  end_qemu();
  return "not committed ($status, $state): the destination QEMU was ended and its files removed";
}

# What the migration stream holds in this host's TCP sockets: the send queue
# (src: written by QEMU, not yet acknowledged) or the receive queue (dst: not
# yet read by QEMU) of the established connections on the migration's port,
# which the destination's QEMU picked for this migration, and (dst) the bytes
# they received. Asked of the kernel over netlink (sock_diag), in this
# namespace, QEMU's: 0.2-0.3 ms, where reading /proc/net/tcp walks the whole
# connection table (6.5 ms on a 24 GiB host). (0, 0) where the stream is not
# TCP or the kernel will not say.
sub stream_queue {
  my ($side) = @_;
  my ($host, $port) = $uri =~ /^tcp:\[?(.*?)\]?:(\d+)$/;
  return (0, 0) unless $port;
  my @families = $host =~ /^[\d.]+$/ ? (2) : $host =~ /:/ ? (10) : (2, 10);   # AF_INET, AF_INET6
  my ($sum, $received) = (0, 0);
  for my $family (@families) {
    socket(my $nl, 16, 3, 4) or return (0, 0);   # AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG
    # SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST|NLM_F_DUMP; inet_diag_req_v2: TCP, tcp_info wanted
    # (dst), ESTABLISHED only, any socket id
    my $req = pack('CCCCL', $family, 6, $side eq 'dst' ? 2 : 0, 0, 1 << 1) . ("\0" x 48);
    send($nl, pack('LSSLL', 16 + length $req, 20, 0x301, 1, 0) . $req, 0) or return (0, 0);
    my $end = 0;
    while (!$end) {
      defined(recv($nl, my $buf, 65536, 0)) or return (0, 0);
      my $off = 0;
      while ($off + 16 <= length $buf) {
        my ($len, $type) = unpack('LS', substr($buf, $off, 6));
        if ($len < 16 || $type == 2 || $type == 3) { $end = 1; last }   # NLMSG_ERROR, NLMSG_DONE
        # inet_diag_msg: 4 bytes, its id (sport, dport big-endian, ...: 48 bytes), expires,
        # rqueue, wqueue, uid, inode; then attributes, INET_DIAG_INFO (2) a struct tcp_info
        my ($sport, $dport) = unpack('nn', substr($buf, $off + 20, 4));
        my ($unread, $unsent) = unpack('LL', substr($buf, $off + 72, 8));
        if ($side eq 'src' && $dport == $port) { $sum += $unsent }
        elsif ($side eq 'dst' && $sport == $port) {
          $sum += $unread;
          for (my $a = $off + 88; $a + 4 <= $off + $len;) {
            my ($alen, $atype) = unpack('SS', substr($buf, $a, 4));
            last if $alen < 4;
            $received += unpack('Q', substr($buf, $a + 4 + 128, 8)) if $atype == 2 && $alen >= 4 + 136;   # tcpi_bytes_received
            $a += ($alen + 3) & ~3;
          }
        }
        $off += ($len + 3) & ~3;
      }
    }
    close $nl;
  }
  return ($sum, $received);
}

# At the pause, the stream still on its way to a destination that lags. Its
# guard said so (1 MiB or more unread for 50 ms), and the send queue here still
# holds 64 KiB or more after the query of QEMU that the gate makes anyway (about
# a millisecond): the destination's QEMU loads it all before the guest runs
# there, at the faster of the pace that queue empties now and the pace its guard
# saw over 50 ms before the pause (the one before can be lower, while the guest
# still ran: on the lab the hosts share two cores; a millisecond can catch a
# reader between two reads). On the lab, a destination slow to fault its memory in
# read 200-330 MB/s and ~10 MiB waited at the pause. A destination that keeps up
# empties its sockets at the network's pace: it is not counted (2-15 MiB at the
# pause, pauses of 8-20 ms).
# lag_look() before the query, in_flight(LOOK) after it: what is counted, its
# pace, and the send queue as last read.
sub lag_look {
  my ($unread, $rate) = @behind;
  return undef if $unread < 1048576 || $rate <= 0;
  my ($unsent) = stream_queue('src');
  return [$unsent, precise_ms()];
}
sub in_flight {
  my ($look) = @_;
  return (0, 0, 0) unless $look;
  my ($before, $from) = @$look;
  return (0, 0, $before) if $before < 65536;
  my ($unsent) = stream_queue('src');
  my $ms = precise_ms() - $from;
  return (0, 0, $unsent) if $unsent < 65536;
  my $now = $ms > 0 ? int(($before - $unsent) / $ms * 1000) : 0;
  return ($behind[0] + $unsent, $now > $behind[1] ? $now : $behind[1], $unsent);
}

# (src) How long its QEMU's vCPUs have yet to sleep in QEMU's throttle (ms), read
# from /proc at the pause; undef if it cannot be read. A stopped vCPU waits
# untimed; one in a timed futex wait is in cpu_throttle_thread's sleep, begun
# after the stop (its work was queued just before). QEMU's last steps wait for
# it (the final dirty sync under TCG), and nothing ends it early, not a cancel
# either: the guest would not run sooner on the source. Said with the verdict.
my %futex_nr = (x86_64 => 202, aarch64 => 98);
sub vcpu_sleep_ms {
  return undef unless $hires && @vcpus && $src_pid;
  my $nr = $futex_nr{(POSIX::uname())[4]} // return undef;
  no warnings 'portable'; # user-space addresses above 4 GiB, read by a 64-bit perl
  my $most = 0;
  for my $tid (@vcpus) {
    my @f = split ' ', (read_file("/proc/$src_pid/task/$tid/syscall") // next);
    next unless @f > 4 && $f[0] eq $nr && hex($f[4]) != 0;
    my $op = hex($f[2]);
    open(my $mem, '<:raw', "/proc/$src_pid/mem") or return undef;
    my $got = sysseek($mem, hex($f[4]), 0) && sysread($mem, my $ts, 16);
    close $mem;
    return undef unless $got && $got == 16;
    my ($sec, $nsec) = unpack('q<q<', $ts);
    my $ms = $sec * 1000 + $nsec / 1e6;
    # FUTEX_WAIT_BITSET's deadline is absolute (the realtime clock if flagged, else monotonic); FUTEX_WAIT's relative.
    $ms -= Time::HiRes::clock_gettime(($op & 256) ? Time::HiRes::CLOCK_REALTIME() : Time::HiRes::CLOCK_MONOTONIC()) * 1000 if ($op & 127) == 9;
    $most = $ms if $ms > $most;
  }
  return int($most + 0.5);
}

# QEMU paused before switchover: decide here, one local round trip after the
# pause, rather than after ferry's over SSH. The table is ferry's (its estimate
# of the pause, inverted): the smallest wait at least this one's, and the RAM
# that may remain at it. A pause that does not fit is left to ferry, as is every
# pause when ferry's heartbeat is late (its dying is ours to resolve).
sub source_gate {
  my $seen = $gate_seen;
  $gate_seen = undef;
  my @table = @gate_go;
  @gate_go = ();
  # Unarmed (ferry's own gate decides: disks copied, say), the vCPUs' sleep is still said, for ferry's report.
  return ctl('gate-left - - - - - ' . (vcpu_sleep_ms() // '-') . ' unarmed') unless @table;
  my $look = lag_look();
  my $asked = precise_ms();
  my $reply = qmp_call('{"execute":"query-migrate"}', 1);
  my $answered = precise_ms();
  my ($flight, $pace, $unsent) = in_flight($look);
  my $sleep = vcpu_sleep_ms() // '-';
  # The pause began before its event was read: by up to one round trip, as ferry counts it too.
  my $waited = (precise_ms() - $seen) + ($answered - $asked) + 2 * $tick_ms;
  my $why = '';
  my ($remaining) = ($reply // '') =~ /"remaining":\s*(\d+)/;
  if (!defined $reply || $reply !~ /"status":\s*"pre-switchover"/ || !defined $remaining) { $why = 'no pause in query-migrate' }
  elsif (now() - $last_seen > $hb_limit / 2) { $why = 'ferry late' }
  else {
    # The stream in flight loads in the pause at the destination's pace: as much RAM
    # as the table's send rate carries in that time.
    my $due = $remaining + ($flight && $gate_rate ? $flight / $pace * $gate_rate : 0);
    my ($row) = grep { $_->[0] >= $waited } @table;
    if ($due > $table[0][1] || ($row && $due > $row->[1])) { $why = 'too much left' }
    elsif (!$row) { $why = 'waited too long' }
  }
  my $figures = sprintf('%s %.1f %d %d %d %s', $remaining // '-', $waited, $flight, $pace, $unsent, $sleep);
  return ctl("gate-left $figures $why") if $why;
  # Said before it is done, so that ferry reads it before any reply that follows the continue.
  ctl("gate-went $figures");
  ($gate_went, $gate_at) = (1, undef);
  qmp_call('{"execute":"migrate-continue","arguments":{"state":"pre-switchover"}}', 2);
}

# (dst) Whether its QEMU lags behind the stream: 1 MiB or more unread in every
# look of the last 50 ms (a burst it reads at once is not a lag), and its pace
# then, from what it consumed (received less unread). Said to ferry when it
# moved by a fifth, or ended; for the source's gate (see in_flight).
sub say_behind {
  my $t = precise_ms();
  return if @looks && $t - $looks[-1][0] < 10;
  my ($unread, $received) = stream_queue('dst');
  push @looks, [$t, $unread, $received - $unread];
  shift @looks while @looks > 2 && $t - $looks[1][0] >= 50;
  my $span = $t - $looks[0][0];
  my $lags = $span >= 40 && !grep { $_->[1] < 1048576 } @looks;
  my $rate = $lags ? int(($looks[-1][2] - $looks[0][2]) / $span * 1000) : 0;
  my @now = $lags && $rate > 0 ? ($unread, $rate) : (0, 0);
  return if ($now[0] == 0) == ($said[0] == 0) && abs($now[0] - $said[0]) <= $said[0] / 5 && abs($now[1] - $said[1]) <= $said[1] / 5;
  @said = @now;
  ctl("behind @now");
}

sub rmdir_lock {
  return unless $lock;
  unlink glob("$lock/*");
  rmdir $lock;
}

# The source QEMU ferry is quitting (the VM runs on the destination): wait for
# its process to be gone (a dying one closes QMP first), ending it if it lingers
# or if ferry was lost before its quit arrived, then remove its files and the lock.
sub finish_quit {
  my ($qmp_open) = @_;
  qmp_call('{"execute":"quit"}', 2) if $qmp_open && alive($src_pid);
  for my $signal (0, 'TERM', 'KILL') {
    kill($signal, $src_pid) if $signal && alive($src_pid);
    for (1 .. 250) { last unless alive($src_pid); select(undef, undef, undef, 0.01) }
  }
  unlink @cleanup;
  rmdir_lock();
  logline('the source QEMU quit after the migration; its files and the lock were removed' . ($ferry_gone ? ' (ferry gone)' : ''));
  ctl('cleaned') unless $ferry_gone;
  flush_out();
  exit 0;
}

sub resolve {
  my ($why) = @_;
  return if $done;
  my $what = $role eq 'src' ? resolve_source() : resolve_destination();
  logline("ferry lost ($why); $what");
  # ferry may still read (it let us go on purpose): tell it; if it is dead, the write just fails.
  ctl("resolved $what");
  flush_out();
  exit 0;
}

# Started early (beside the source's checks), the destination's guard waits for
# what to launch; a ferry gone first (or one that lets it go) leaves nothing here.
sub await_launch {
  my $until = now() + 600;
  my $sel = IO::Select->new(\*STDIN);
  for (;;) {
    if (now() > $until) { logline('no launch came from ferry'); exit 0 }
    next unless $sel->can_read(1);
    my $n = sysread(STDIN, $ibuf, 65536, length $ibuf);
    exit 0 unless $n;
    while ((my $i = index($ibuf, "\n")) >= 0) {
      my $line = substr($ibuf, 0, $i + 1, '');
      next unless $line =~ /^#(\S+)\s?(.*?)\s*$/s;
      my ($word, $arg) = ($1, $2);
      if    ($word eq 'cleanup') { push @cleanup, $arg }
      elsif ($word eq 'created') { push @created, $arg }
      elsif ($word eq 'launch' && $arg =~ /^[0-9a-f]+$/) {
        # ferry's heartbeat starts once QEMU is up: the wait is not counted against it.
        $last_seen = now();
        return pack('H*', $arg);
      }
    }
  }
}

# --- start -----------------------------------------------------------------

ctl("guard $$");
if ($role eq 'src') {
  my $pid = qemu_pid();
  if (!$pid) { ctl('novm'); flush_out(); exit 0 }
  if (!mkdir $lock) {
    my $holder = read_file("$lock/guard.pid") // '';
    $holder =~ s/\s+//g;
    ctl(alive($holder) ? 'busy live' : 'busy stale');
    my $record = read_file("$lock/status.json") // '';
    $record =~ s/\n//g;
    ctl("record $record");
    flush_out();
    exit 0;
  }
  $src_pid = $pid;
  write_file_atomic("$lock/guard.pid", "$$\n");
  write_file_atomic("$lock/status.json", $opt{record}) if defined $opt{record};
  ctl("vm $pid");
  ctl('argv ' . unpack('H*', read_file("/proc/$pid/cmdline") // ''));
} elsif (defined $opt{launch} || $opt{'launch-later'}) {
  $opt{launch} //= await_launch();
  # The destination's QEMU starts under the guard, so that a ferry killed
  # while it starts leaves no orphan: the launch runs, then we watch.
  my $rc = system('/bin/sh', '-c', $opt{launch});
  if ($rc != 0) { ctl('launch-failed ' . ($rc >> 8)); unlink @cleanup; logline('the destination QEMU did not start'); flush_out(); exit 0 }
  push @cleanup, @created;
  ctl('vm ' . (qemu_pid() // 0));
}
if (!connect_qmp()) {
  ctl('qmp-failed');
  logline('could not connect to QMP: ' . ($role eq 'src' ? 'lock released' : 'its QEMU was ended'));
  if ($role eq 'src') { rmdir_lock() } else { end_qemu() }
  flush_out();
  exit 0;
}

my $in = IO::Select->new(\*STDIN, $qmp);
for (;;) {
  my $t = now();
  resolve('no heartbeat for ' . int($t - $last_seen) . ' s') if !$done && $t - $last_seen > $hb_limit;
  source_gate() if defined $gate_seen;
  say_behind() if $role eq 'dst' && !$done && $uri;
  if (defined $gate_at && defined $gate_ms && ($t - $gate_at) * 1000 > $gate_ms) {
    # ferry has not answered QEMU's pause in time: the guest must not wait on ferry's network.
    qmp_send('{"execute":"migrate_cancel"}');
    $gate_at = undef;
    logline("switchover not answered within $gate_ms ms: cancelled");
    ctl('gate-expired');
  }
  # An incoming stream's backlog is looked at every 10 ms: the source's gate may need it any moment.
  for my $fh ($in->can_read($role eq 'dst' && !$done && $uri ? 0.01 : 0.05)) {
    if ($fh == $qmp) {
      next if pump_qmp(0);
      finish_quit(0) if $quitting;
      # QEMU closed its end: it quit or died. A dying process closes its files
      # before it is gone from /proc: wait for that before removing its files.
      if ($role eq 'dst' && !$done) {
        for (1 .. 50) { last unless qemu_pid(); select(undef, undef, undef, 0.1) }
        unlink @cleanup unless qemu_pid();
        logline('the destination QEMU exited; its files were removed');
      }
      logline('its QEMU closed QMP' . ($done ? ' after ferry finished' : ''));
      ctl('qemu-gone') unless $ferry_gone;
      flush_out();
      exit 0;
    }
    my $n = sysread(STDIN, $ibuf, 65536, length $ibuf);
    if (!$n) {
      $ferry_gone = 1;
      finish_quit(1) if $quitting;
      if ($done) { logline('ferry finished and closed its session'); exit 0 }
      resolve('its session ended');
    }
    $last_seen = now();
    while ((my $i = index($ibuf, "\n")) >= 0) {
      my $line = substr($ibuf, 0, $i + 1, '');
      if ($line =~ /^#(\S+)\s?(.*?)\s*$/s) {
        my ($word, $arg) = ($1, $2);
        if    ($word eq 'done')        { $done = 1 }
        elsif ($word eq 'quitting')    { ($done, $quitting) = (1, 1) if $role eq 'src' && $src_pid }
        elsif ($word eq 'was-running') { $was_running = $arg ? 1 : 0 }
        elsif ($word eq 'gate')        { $gate_ms = $arg }
        elsif ($word eq 'source-kept') { $source_kept = 1 }
        elsif ($word eq 'gate-go')     { @gate_go = map { [split /:/] } grep { /^\d+(\.\d+)?:\d+$/ } split ' ', $arg; ($gate_rate) = $arg =~ /\brate:(\d+)/; $gate_rate //= 0 }
        elsif ($word eq 'gate-behind') { @behind = ($1, $2) if $arg =~ /^(\d+) (\d+)$/ }
        elsif ($word eq 'restore')     { push @restore, $arg }
        elsif ($word eq 'restore-retry') { push @restore, "retry:$arg" }
        elsif ($word eq 'cleanup')     { push @cleanup, $arg }
        elsif ($word eq 'record')      { write_file_atomic("$lock/status.json", $arg) if $lock && -d $lock }
        elsif ($word eq 'uri')         { $uri = $arg if $arg =~ /^[\w.:\[\]-]+$/ }
        next;
      }
      # Already negotiated by us: answered for QEMU.
      if ($line =~ /"execute":\s*"qmp_capabilities"/) { answer_empty($line); next }
      # The switchover went ahead here, and a cancel now would hit QEMU's device state. It is
      # answered as QEMU answers every cancel; ferry reads where the VM is from query-migrate.
      if ($gate_went && $line =~ /"execute":\s*"migrate_cancel"/) { answer_empty($line); next }
      if ($line =~ /"execute":\s*"(migrate-continue|migrate_cancel)"/) {
        $gate_at = undef;
        # ferry answered the pause itself before the gate here looked: it stays ferry's.
        ctl('gate-left - - - - - - answered') if defined $gate_seen;
        $gate_seen = undef;
      }
      $saw_stop = 1 if $line =~ /"execute":\s*"stop"/;
      $postcopy = 1 if $line =~ /"execute":\s*"migrate-start-postcopy"/;
      my $migrate = $line =~ /"execute":\s*"migrate"[,}]/;
      $migrate_sent = 1 if $migrate;
      qmp_write($line);
      # Its vCPUs, for their throttle sleep at the pause: answered in passing (pump_qmp), nothing waits.
      qmp_send_as('cpus', '{"execute":"query-cpus-fast"}') if $migrate && $role eq 'src' && !@vcpus;
    }
  }
}
`;

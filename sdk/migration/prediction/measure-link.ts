import type { Host } from '../../model/host.ts';

// perl-base is in every Debian-family system (as `sh` is): a listener and a
// sender need nothing else installed.
const LISTEN = `use IO::Socket::INET; use Time::HiRes qw(time); my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => $ARGV[1], Listen => 1, ReuseAddr => 1) or die "listen: $!"; alarm 20; my $c = $s->accept or die; my ($n, $t0, $b) = (0, undef); while (my $r = sysread($c, $b, 1 << 20)) { $t0 //= time; $n += $r } printf "%d %.6f\\n", $n, time - $t0;`;
const SEND = `use IO::Socket::INET; use Time::HiRes qw(time); my $c; for (1..50) { $c = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1]) and last; select(undef, undef, undef, 0.1) } $c or die "connect: $!"; my $b = "\\xa5" x (1 << 20); my $end = time + $ARGV[2]; while (time < $end) { syswrite($c, $b) // die } close $c;`;

/**
 * Measures TCP throughput from `source` to `destination`'s migration
 * address for about `seconds` (bytes/s): what the migration stream can use
 * before QEMU's own limits.
 */
export async function measureLink(source: Host, destination: Host, options: { seconds?: number; signal?: AbortSignal } = {}): Promise<number> {
  const seconds = options.seconds ?? 1;
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const address = destination.migrationAddress;
  const listening = destination.exec(['perl', '-e', LISTEN, address, port], { signal: options.signal, timeoutMs: 30_000 });
  const sending = source.exec(['perl', '-e', SEND, address, port, String(seconds)], { signal: options.signal, timeoutMs: 30_000 });
  const [received] = await Promise.all([listening, sending]);
  const [bytes, elapsed] = received.stdout.trim().split(/\s+/).map(Number);
  if (!bytes || !elapsed) throw new Error(`link test ${source.name} → ${destination.name}: no figures (${received.stdout.trim()})`);
  return bytes / elapsed;
}

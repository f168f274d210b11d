/**
 * An engine at ssh://[USER@]HOST[:PORT], as the docker CLI reaches one: an ssh connection
 * running `docker system dial-stdio` there (dockerode's ssh transport, through the ssh2
 * library). What the docker CLI leaves to OpenSSH is done here as OpenSSH does it, since
 * ssh2 does neither by itself:
 * - the host is known or refused: its key must be in ~/.ssh/known_hosts (or
 *   /etc/ssh/ssh_known_hosts) under its name, `[HOST]:PORT` off port 22, plain or hashed
 *   (`|1|salt|hmac`), and not `@revoked`; flatlab never adds a key (trust is the user's
 *   decision: `ssh` once, or `ssh-keyscan` after checking the fingerprint);
 * - who we are: the ssh agent (SSH_AUTH_SOCK) when there is one, and the first of
 *   ~/.ssh/id_ed25519, id_ecdsa, id_rsa that is not protected by a passphrase.
 * Deliberately not read: ~/.ssh/config (Host aliases, ProxyJump); give the address itself.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../../errors.js';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
}

/** ssh://[USER@]HOST[:PORT] (an IPv6 host in brackets); null when url is not of that form. */
export function sshTarget(url: string): SshTarget | null {
  const m = /^ssh:\/\/(?:([A-Za-z0-9._-]+)@)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(url);
  if (!m) return null;
  return { host: m[2]!.replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : 22, username: m[1] ?? userInfo().username };
}

/** How known_hosts names a host: its name on port 22, else [name]:port. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** A known_hosts pattern (`*` and `?` wildcards, `!` negation handled by the caller) against a name. */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** Whether a known_hosts line's host field names `name` (plain list with wildcards and negations, or one hashed entry). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

/** The keys known_hosts text holds for a name: trusted ones, and revoked ones (refused whatever else says). */
export function hostKeys(text: string, name: string): { trusted: Buffer[]; revoked: Buffer[] } {
  const trusted: Buffer[] = [];
  const revoked: Buffer[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    const marker = f[0]!.startsWith('@') ? f.shift()! : null;
    // @cert-authority lines sign host certificates: not supported, so never trusted here
    if (marker === '@cert-authority' || f.length < 3 || !hostFieldMatches(f[0]!, name)) continue;
    const key = Buffer.from(f[2]!, 'base64');
    (marker === '@revoked' ? revoked : trusted).push(key);
  }
  return { trusted, revoked };
}

/** The ssh2 options for a target: its known host keys checked, the user's identities offered. Throws EnvironmentError saying what to do. */
export function sshOptions(url: string, target: SshTarget, env: NodeJS.ProcessEnv = process.env, home = env.HOME || homedir()): Record<string, unknown> {
  const name = knownHostsName(target.host, target.port);
  const files = [join(home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
  const text = files.map((f) => readOr(f)).join('\n');
  const { trusted, revoked } = hostKeys(text, name);
  const sshHint = `ssh${target.port === 22 ? '' : ` -p ${target.port}`} ${target.username}@${target.host}`;
  if (trusted.length === 0) {
    throw new EnvironmentError(
      `engine ${url}: ${name} is not in ${files[0]} (flatlab connects only to a host whose key is known)`,
      `connect once with \`${sshHint}\` and accept its key after checking the fingerprint (flatlab never adds keys itself)`,
    );
  }
  const keys = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => readOr(join(home, '.ssh', k))).filter((k) => k && !/ENCRYPTED|bcrypt/.test(encryptionHint(k)));
  const agent = env.SSH_AUTH_SOCK || undefined;
  if (!agent && keys.length === 0) {
    throw new EnvironmentError(
      `engine ${url}: no ssh identity (no agent at SSH_AUTH_SOCK, no unprotected ~/.ssh/id_ed25519, id_ecdsa or id_rsa)`,
      'start ssh-agent and ssh-add your key, as for `' + sshHint + '`',
    );
  }
  return {
    ...(agent ? { agent } : {}),
    ...(keys[0] ? { privateKey: keys[0] } : {}),
    // the raw key the host offered, against what known_hosts holds for it
    hostVerifier: (key: Buffer) => !revoked.some((k) => k.equals(key)) && trusted.some((k) => k.equals(key)),
  };
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * What says a private key file is protected: a PEM key's "ENCRYPTED" header, or an
 * OpenSSH key's cipher (its header names "bcrypt" as the KDF when it has a passphrase).
 */
function encryptionHint(pem: string): string {
  if (/BEGIN OPENSSH PRIVATE KEY/.test(pem)) {
    const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    return Buffer.from(body, 'base64').subarray(0, 64).toString('latin1');
  }
  return pem;
}

/**
 * The HTTP agent dockerode talks to an ssh engine through: one ssh connection for the run,
 * each HTTP connection an exec channel running `docker system dial-stdio` there (what the
 * docker CLI runs), kept alive between requests, so a request pays neither a handshake
 * nor a process there. (docker-modem's own ssh transport connects anew for every request,
 * and its URL for the ssh scheme makes Node warn.) The connection holds this process open
 * while a channel is asked for or in use, not while it idles in the pool.
 */
export function sshHttpAgent(target: SshTarget, options: Record<string, unknown>): Agent {
  const { Client } = createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
  type Conn = { client: InstanceType<typeof Client>; sock: Socket };
  let conn: Promise<Conn> | null = null;
  let sock: Socket | null = null;
  let holds = 0;
  const hold = (d: 1 | -1): void => {
    holds += d;
    if (holds > 0) sock?.ref();
    else sock?.unref();
  };
  const connect = (): Promise<Conn> =>
    (conn ??= new Promise<Conn>((resolve, reject) => {
      const s = netConnect({ host: target.host, port: target.port });
      sock = s;
      const client = new Client();
      client.once('ready', () => resolve({ client, sock: s })).once('error', (err: Error) => {
        conn = null;
        reject(err);
      });
      client.once('close', () => (conn = null));
      client.connect({ ...options, sock: s, username: target.username, readyTimeout: 20_000 });
    }));
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 8 });
  (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, done: (err: Error | null, stream?: Duplex) => void): void => {
    hold(1);
    connect()
      .then(({ client }) =>
        client.exec('docker system dial-stdio', (err, channel) => {
          if (err) {
            hold(-1);
            return done(err);
          }
          done(null, asSocket(channel, hold));
        }),
      )
      .catch((err: Error) => {
        hold(-1);
        done(err);
      });
  };
  return agent;
}

/**
 * What Node's HTTP agent asks of a pooled socket, on an ssh channel: ref and unref (the
 * pool unrefs an idle one) count as holds on the connection; keep-alive, no-delay and
 * timeouts are the ssh connection's business.
 */
function asSocket(channel: Duplex, hold: (d: 1 | -1) => void): Duplex {
  let held = true;
  const ch = channel as Duplex & Record<string, unknown>;
  ch.ref = () => {
    if (!held) hold(1);
    held = true;
    return ch;
  };
  ch.unref = () => {
    if (held) hold(-1);
    held = false;
    return ch;
  };
  ch.setKeepAlive = () => ch;
  ch.setNoDelay = () => ch;
  ch.setTimeout = () => ch;
  channel.once('close', () => (ch.unref as () => void)());
  return channel;
}

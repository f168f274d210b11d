/**
 * The initramfs format the kernel unpacks (cpio "newc", Documentation/driver-api/
 * early-userspace/buffer-format.rst), written here rather than by cpio(1), which a
 * Debian machine does not have by default: a guest image is a few dozen entries.
 * Archives written by `cpioArchive` may be concatenated: the kernel unpacks one after
 * the other (a guest's own files after the image's, in its copy of the image).
 */

export type CpioEntry =
  | { path: string; kind: 'dir'; mode?: number }
  | { path: string; kind: 'file'; data: Uint8Array | string; mode?: number }
  | { path: string; kind: 'symlink'; target: string }
  /** a character device node (/dev/console, which the kernel opens for init before anything mounts /dev) */
  | { path: string; kind: 'char'; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

function header(ino: number, mode: number, nlink: number, size: number, nameSize: number, rdev: [number, number]): string {
  // magic, then 13 fields of 8 hex digits: ino mode uid gid nlink mtime filesize
  // devmajor devminor rdevmajor rdevminor namesize check (mtime 0: the same bytes every build)
  const fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], nameSize, 0];
  return '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
}

function record(ino: number, mode: number, nlink: number, name: string, data: Uint8Array, rdev: [number, number] = [0, 0]): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const head = Buffer.from(header(ino, mode, nlink, data.length, nameBytes.length, rdev));
  return Buffer.concat([head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length)), data, Buffer.alloc(pad4(data.length))]);
}

/** The archive of `entries`, in their order (a directory before what it holds), ending with the trailer. */
export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts = entries.map((e, i) => {
    const name = e.path.replace(/^\/+/, '');
    if (!name || name.split('/').includes('..')) throw new Error(`cpio: "${e.path}" is not a path inside the archive`);
    if (e.kind === 'dir') return record(i + 1, S_IFDIR | (e.mode ?? 0o755), 2, name, new Uint8Array());
    if (e.kind === 'char') return record(i + 1, S_IFCHR | (e.mode ?? 0o600), 1, name, new Uint8Array(), [e.major, e.minor]);
    if (e.kind === 'symlink') return record(i + 1, S_IFLNK | 0o777, 1, name, Buffer.from(e.target));
    return record(i + 1, S_IFREG | (e.mode ?? 0o644), 1, name, typeof e.data === 'string' ? Buffer.from(e.data) : e.data);
  });
  return Buffer.concat([...parts, record(0, 0, 1, 'TRAILER!!!', new Uint8Array())]);
}

/** Reads an archive back (the tests' view of one; several concatenated ones are read in turn). */
export function readCpio(buf: Buffer): { path: string; mode: number; data: Buffer }[] {
  const out: { path: string; mode: number; data: Buffer }[] = [];
  let at = 0;
  while (at + 110 <= buf.length) {
    if (buf.toString('latin1', at, at + 6) !== '070701') {
      at += 4; // the padding between concatenated archives
      continue;
    }
    const field = (i: number): number => parseInt(buf.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const nameEnd = at + 110 + nameSize;
    const name = buf.toString('utf8', at + 110, nameEnd - 1);
    const dataAt = nameEnd + pad4(110 + nameSize);
    if (name !== 'TRAILER!!!') out.push({ path: name, mode, data: buf.subarray(dataAt, dataAt + size) });
    at = dataAt + size + pad4(size);
  }
  return out;
}

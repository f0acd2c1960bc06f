export interface TarEntry {
  /** Relative path, `/`-separated; directories end with `/`. */
  path: string;
  /** File content; omit for a directory. */
  content?: Buffer;
  mode?: number;
}

const BLOCK = 512;
/** Fixed mtime so that the same entries always give the same bytes (2023-11-14). */
const MTIME = 1_700_000_000;

/** An uncompressed POSIX ustar archive of `entries`, in the given order. */
export function createTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const isDir = entry.content === undefined;
    const content = entry.content ?? Buffer.alloc(0);
    parts.push(header(entry.path, isDir, content.length, entry.mode ?? (isDir ? 0o755 : 0o644)));
    if (content.length > 0) {
      parts.push(content);
      const pad = (BLOCK - (content.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2)); // end-of-archive marker
  return Buffer.concat(parts);
}

function header(path: string, isDir: boolean, size: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const { name, prefix } = splitPath(isDir && !path.endsWith('/') ? `${path}/` : path);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, MTIME);
  h.write(isDir ? '5' : '0', 156, 1, 'latin1');
  h.write('ustar\u000000', 257, 8, 'latin1'); // magic "ustar\0" + version "00"
  h.write('root', 265, 32, 'latin1');
  h.write('root', 297, 32, 'latin1');
  h.write(prefix, 345, 155, 'utf8');
  // Checksum: sum of all header bytes with the checksum field read as spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
  return h;
}

function octal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'latin1');
}

function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  const cut = path.lastIndexOf('/', path.length - 2);
  const name = path.slice(cut + 1);
  const prefix = path.slice(0, cut);
  if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`tar path too long: ${path}`);
  return { name, prefix };
}

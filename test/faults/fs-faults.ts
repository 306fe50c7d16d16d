// File-system fault injection at the fs level, in-process: node:fs's openSync and writeSync are
// replaced (and syncBuiltinESMExports() makes the modules that imported them by name see the
// replacement), so a chosen file's writes fail with a real errno, or are cut short, exactly as
// the kernel would report a full disk (ENOSPC), a denied write (EPERM) or a short write.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import path from "node:path";

export interface WriteFault {
  /** Which file's writes fail: matched on the base name. */
  file: RegExp;
  /** The errno thrown. */
  errno?: "ENOSPC" | "EPERM" | "EIO";
  /** Let this many bytes through (a partial write) before the error. */
  passBytes?: number;
  /** Instead of failing: every write writes at most this many bytes (short writes, no error). */
  shortWrite?: number;
}

export function injectWriteFault(fault: WriteFault): { hits: () => number; restore(): void } {
  const realOpen = fs.openSync;
  const realWrite = fs.writeSync;
  const paths = new Map<number, string>();
  let hits = 0;
  let passed = 0;
  fs.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
    const fd = (realOpen as (...a: unknown[]) => number)(file, ...rest);
    paths.set(fd, String(file));
    return fd;
  }) as typeof fs.openSync;
  fs.writeSync = ((fd: number, buffer: Buffer | string, offset?: number, length?: number, position?: number) => {
    const file = paths.get(fd);
    const bytes = typeof buffer === "string" ? Buffer.from(buffer) : buffer;
    const start = typeof buffer === "string" ? 0 : offset ?? 0;
    const len = typeof buffer === "string" ? bytes.length : length ?? bytes.length - start;
    if (file && fault.file.test(path.basename(file))) {
      hits++;
      if (fault.shortWrite) {
        return realWrite(fd, bytes, start, Math.min(len, fault.shortWrite), position);
      }
      const allowance = (fault.passBytes ?? 0) - passed;
      if (allowance > 0) {
        const n = realWrite(fd, bytes, start, Math.min(len, allowance), position);
        passed += n;
        return n;
      }
      const errno = fault.errno ?? "ENOSPC";
      throw Object.assign(new Error(`${errno}: injected fault, write '${file}'`), { code: errno, errno: -28, syscall: "write" });
    }
    return realWrite(fd, bytes, start, len, position);
  }) as typeof fs.writeSync;
  syncBuiltinESMExports();
  return {
    hits: () => hits,
    restore() {
      fs.openSync = realOpen;
      fs.writeSync = realWrite;
      syncBuiltinESMExports();
    },
  };
}

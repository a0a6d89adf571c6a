/**
 * uid → user name from the host's passwd file (SPEC 9 `user`).
 *
 * Hand-written rather than os.userInfo() or getent: Node can only name the current user, and a
 * child process per lookup is far too slow for the identity path. Only the host's file is read
 * (not NSS/LDAP), which is what the spec asks for. The file is parsed once and again only when
 * its mtime, size or inode changes (editors replace it by rename, tools rewrite it in place).
 */
import { readFileSync, statSync } from 'node:fs';

/** A passwd file larger than this is not a passwd file we should hold in memory. */
const MAX_PASSWD_BYTES = 16 * 1024 * 1024;

export class UserNames {
  private names = new Map<number, string>();
  private version = '';

  constructor(readonly passwdPath = '/etc/passwd') {}

  /** The uid's name, or undefined when the file is unreadable or has no such uid. */
  name(uid: number): string | undefined {
    this.reloadIfChanged();
    return this.names.get(uid);
  }

  private reloadIfChanged(): void {
    let version: string;
    try {
      const st = statSync(this.passwdPath);
      if (st.size > MAX_PASSWD_BYTES) {
        this.names.clear();
        this.version = '';
        return;
      }
      version = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      this.names.clear();
      this.version = '';
      return;
    }
    if (version === this.version) return;
    let text: string;
    try {
      text = readFileSync(this.passwdPath, 'utf8');
    } catch {
      return;
    }
    this.names = parsePasswd(text);
    this.version = version;
  }
}

/** `name:password:uid:gid:gecos:home:shell` lines; the first line for a uid wins, as getpwuid does. */
export function parsePasswd(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length < 3 || fields[0] === '' || !/^\d+$/.test(fields[2]!)) continue;
    const uid = Number(fields[2]);
    if (!names.has(uid)) names.set(uid, fields[0]!);
  }
  return names;
}
